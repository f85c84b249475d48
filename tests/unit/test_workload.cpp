// workload.hpp: the workload format, its defaults and its error messages.
#include "catch.hpp"
#include "test_profile.hpp"

#include <hwcal/workload.hpp>

using namespace hwcal;
using nlohmann::json;

namespace {
std::string error_of(const json& j) {
  try {
    parse_workload(j, "w.json");
  } catch (const DocumentError& e) {
    return e.what();
  }
  return "";
}
json with_subgraph(json s) {
  return {{"hwcal_workload", 1}, {"name", "t"}, {"subgraphs", json::array({std::move(s)})}};
}
/// A workload of one 3x3 conv2d named "c" over 1x3x8x8 (k 4), with `extra` fields added.
json with_conv(const json& extra) {
  json s = {{"name", "c"}, {"op", "conv2d"}, {"n", 1}, {"c", 3}, {"h", 8}, {"w", 8}, {"k", 4}, {"r", 3}, {"s", 3}};
  s.update(extra);
  return with_subgraph(std::move(s));
}
}  // namespace

TEST_CASE("a workload parses with PyTorch-like defaults", "[workload]") {
  const json j = {{"hwcal_workload", 1},
                  {"name", "tiny"},
                  {"precision", "fp32"},
                  {"subgraphs",
                   {{{"name", "conv1"},
                     {"op", "conv2d"},
                     {"n", 1},
                     {"c", 3},
                     {"h", 224},
                     {"w", 224},
                     {"k", 64},
                     {"r", 7},
                     {"s", 7},
                     {"stride", 2},
                     {"padding", {3, 3}},
                     {"channels_last", true},
                     {"fused", {"batchnorm", "relu"}}},
                    {{"name", "pool"},
                     {"op", "maxpool"},
                     {"n", 1},
                     {"c", 64},
                     {"h", 112},
                     {"w", 112},
                     {"r", 3},
                     {"stride", 2},
                     {"padding", 1}},
                    {{"name", "fc"}, {"op", "linear"}, {"m", 1}, {"n", 1000}, {"k", 512}, {"precision", "bf16"}},
                    {{"name", "add"}, {"op", "add"}, {"elements", 100}},
                    {{"name", "qk"}, {"op", "matmul"}, {"m", 8}, {"n", 8}, {"k", 4}},
                    {{"name", "attn"}, {"op", "attention"}, {"heads", 2}, {"seq_q", 16}, {"head_dim", 8}}}}};
  const Workload w = parse_workload(j, "w.json");
  REQUIRE(w.subgraphs.size() == 6);
  const auto& conv = std::get<Conv2dShape>(w.subgraphs[0].graph.op.shape);
  CHECK(conv.stride_h == 2);
  CHECK(conv.pad_w == 3);
  CHECK(conv.dil_h == 1);
  CHECK(conv.groups == 1);
  CHECK(conv.bias);  // nn.Conv2d default
  CHECK(conv.channels_last);
  CHECK(variant_of(w.subgraphs[0].graph.op) == Variant::dense_channels_last);
  CHECK(w.subgraphs[0].graph.fused == (fused_bit(OpKind::batchnorm) | fused_bit(OpKind::relu)));
  const auto& pool = std::get<Pool2dShape>(w.subgraphs[1].graph.op.shape);
  CHECK(pool.s == 3);
  CHECK(pool.out_h() == 56);
  CHECK(std::get<MatmulShape>(w.subgraphs[2].graph.op.shape).bias);  // nn.Linear default
  CHECK(w.subgraphs[2].graph.precision == Precision::bf16);
  CHECK(std::get<ElementwiseShape>(w.subgraphs[3].graph.op.shape).inputs == 2);
  CHECK(std::get<MatmulShape>(w.subgraphs[4].graph.op.shape).batch == 1);
  CHECK(std::get<AttentionShape>(w.subgraphs[5].graph.op.shape).seq_kv == 16);
  CHECK(w.warnings.empty());
  // round trip
  const Workload again = parse_workload(to_json(w), "again");
  CHECK(to_json(again) == to_json(w));
}

TEST_CASE("malformed workloads name the subgraph and the field", "[workload]") {
  CHECK(error_of(with_subgraph({{"name", "fc1"}, {"op", "dense"}, {"m", 1}})) ==
        "w.json: field '/subgraphs/0/op': subgraph 'fc1': unknown op 'dense'");
  CHECK(error_of(with_subgraph({{"name", "fc1"}, {"op", "linear"}, {"m", 1}, {"n", 4}})) ==
        "w.json: field '/subgraphs/0/k': subgraph 'fc1': missing required field");
  CHECK(error_of(with_subgraph({{"name", "fc1"}, {"op", "linear"}, {"m", -1}, {"n", 4}, {"k", 4}})) ==
        "w.json: field '/subgraphs/0/m': subgraph 'fc1': must be a positive integer, got -1");
  CHECK(error_of(with_subgraph({{"name", "fc1"}, {"op", "linear"}, {"m", 1}, {"n", 4}, {"k", 1e15}})) ==
        "w.json: field '/subgraphs/0/k': subgraph 'fc1': is larger than 2^40, the most hwcal accepts");
  // products of fields beyond 2^50 elements: the shape, not a field, is at fault
  CHECK(error_of(with_subgraph({{"name", "bn"}, {"op", "batchnorm"}, {"n", 1 << 30}, {"c", 1 << 30}})) ==
        "w.json: field '/subgraphs/0': subgraph 'bn': batchnorm shape: tensor 'x' would have more than 2^50 elements");
  CHECK(error_of(with_subgraph({{"name", "a"},
                                {"op", "attention"},
                                {"heads", 32},
                                {"kv_heads", 5},
                                {"seq_q", 1},
                                {"seq_kv", 8},
                                {"head_dim", 64}})) ==
        "w.json: field '/subgraphs/0/kv_heads': subgraph 'a': attention shape: kv_heads must divide heads");
  CHECK(error_of(with_subgraph({{"name", "r"}, {"op", "relu"}, {"elements", 4}, {"inputs", 2}})) ==
        "w.json: field '/subgraphs/0/inputs': subgraph 'r': relu shape: relu takes 1 input");
  CHECK(error_of(with_subgraph({{"name", "r"}, {"op", "relu"}, {"elements", 4}, {"inputs", 4294967297.0}})) ==
        "w.json: field '/subgraphs/0/inputs': subgraph 'r': must be between 1 and 64, got 4294967297");
  CHECK(error_of(with_subgraph({{"name", "cat"}, {"op", "concat"}, {"bytes", 4096}, {"inputs", 5000}})) ==
        "w.json: field '/subgraphs/0/inputs': subgraph 'cat': concat shape: a concat joins 1 to 4096 inputs");
  CHECK(
      error_of(with_subgraph({{"name", "cat"}, {"op", "concat"}, {"bytes", 4096}, {"inputs", 4}, {"largest", 512}})) ==
      "w.json: field '/subgraphs/0/largest': subgraph 'cat': concat shape: the largest input holds at least bytes / "
      "inputs");
  CHECK(error_of(with_subgraph({{"name", "cat"}, {"op", "concat"}, {"bytes", 4096}, {"largest", 8192}})) ==
        "w.json: field '/subgraphs/0/largest': subgraph 'cat': concat shape: the largest input cannot hold more than "
        "the output's bytes");
  CHECK(error_of(with_subgraph({{"name", "cp"}, {"op", "copy"}, {"bytes", 4096}, {"inputs", 3}})) == "");
  CHECK(error_of(with_subgraph({{"name", "rot"}, {"op", "rotary"}, {"tokens", 8}, {"heads", 2}, {"head_dim", 7}})) ==
        "w.json: field '/subgraphs/0/head_dim': subgraph 'rot': rotary shape: rotary embedding rotates pairs: head_dim "
        "must be even");
  CHECK(error_of(with_subgraph({{"name", "e"}, {"op", "embedding"}, {"tokens", 8}, {"dim", 64}})) ==
        "w.json: field '/subgraphs/0/vocab': subgraph 'e': missing required field");
  CHECK(
      error_of(with_subgraph(
          {{"name", "p"}, {"op", "maxpool"}, {"n", 1}, {"c", 1}, {"h", 4}, {"w", 4}, {"r", 2}, {"stride", nullptr}})) ==
      "");  // null is absent: the stride defaults to the window
  CHECK(error_of(with_subgraph({{"name", "fc1"}, {"op", "linear"}, {"m", "8"}, {"n", 4}, {"k", 4}})) ==
        "w.json: field '/subgraphs/0/m': subgraph 'fc1': expected an integer, got a string");
  CHECK(error_of(with_conv({{"stride", {1, 2, 3}}})) ==
        "w.json: field '/subgraphs/0/stride': subgraph 'c': expected an integer or a pair [h, w]");
  CHECK(error_of(with_conv({{"fused", {"add"}}})) ==
        "w.json: field '/subgraphs/0/fused/0': subgraph 'c': 'add' cannot be fused into another op (batchnorm, softmax "
        "or an activation can)");
  CHECK(error_of(with_subgraph({{"op", "relu"}, {"elements", 4}})) ==
        "w.json: field '/subgraphs/0/name': subgraph '#0': missing required field");
  CHECK(error_of(with_subgraph({{"name", "r"}, {"op", "relu"}, {"elements", 4}, {"precision", "fp128"}})) ==
        "w.json: field '/subgraphs/0/precision': subgraph 'r': unknown precision 'fp128'");
  CHECK(error_of({{"hwcal_workload", 2}, {"subgraphs", json::array()}}).find("unsupported workload version 2") !=
        std::string::npos);
  CHECK(error_of({{"subgraphs", json::array()}}) == "w.json: field '/hwcal_workload': missing required field");
  CHECK(error_of({{"hwcal_workload", 1}, {"subgraphs", json::object()}}) ==
        "w.json: field '/subgraphs': expected an array, got an object");
}

TEST_CASE("unknown fields are warned about, not fatal", "[workload]") {
  const Workload w = parse_workload(with_conv({{"stirde", 2}, {"measured_s", 0.1}}), "w.json");
  REQUIRE(w.warnings.size() == 2);
  CHECK(w.warnings[0] == "subgraph 'c': field 'measured_s' is not used by op conv2d and was ignored");
  CHECK(w.warnings[1] == "subgraph 'c': field 'stirde' is not used by op conv2d and was ignored");
}

TEST_CASE("load_workload reports files that are not JSON", "[workload]") {
  test::TempFile f("workload.json");
  f.write("{\"hwcal_workload\": 1, \"subgraphs\": [");
  try {
    load_workload(f.path);
    FAIL("no error");
  } catch (const DocumentError& e) {
    CHECK(std::string(e.what()).find(f.path + ": not valid JSON") == 0);
  }
}

TEST_CASE("a number beyond double range is named by its field", "[workload]") {
  test::TempFile f("workload.json");
  const auto error = [&](const std::string& text) {
    f.write(text);
    try {
      load_workload(f.path);
    } catch (const DocumentError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  CHECK(error(R"({"hwcal_workload": 1, "subgraphs": [{"name": "big", "op": "relu", "elements": 1e309}]})") ==
        f.path + ": field '/subgraphs/0/elements': not a finite number (number overflow parsing '1e309')");
  // arrays count every kind of element before the offending one; keys are escaped (RFC 6901)
  CHECK(error(R"({"a": [null, true, 1, -1, 2.5, "s", [], {"x": [3]}, -1e400]})") ==
        f.path + ": field '/a/8': not a finite number (number overflow parsing '-1e400')");
  CHECK(error(R"({"a/b~c": {"d": 1}, "e": {"f": [1, {"g": 1E+999}]}})") ==
        f.path + ": field '/e/f/1/g': not a finite number (number overflow parsing '1E+999')");
  CHECK(error("1e309") == f.path + ": not a finite number (number overflow parsing '1e309')");
  CHECK(error(R"({"a/b~c": 1e309})") ==
        f.path + ": field '/a~1b~0c': not a finite number (number overflow parsing '1e309')");
}

TEST_CASE("linear has no batch field and pooling stride null means the default", "[workload]") {
  const Workload w = parse_workload(
      with_subgraph({{"name", "fc"}, {"op", "linear"}, {"batch", 8}, {"m", 4}, {"n", 4}, {"k", 4}}), "w.json");
  REQUIRE(w.warnings.size() == 1);
  CHECK(w.warnings[0] == "subgraph 'fc': field 'batch' is not used by op linear and was ignored");
  const Workload p = parse_workload(
      with_subgraph(
          {{"name", "p"}, {"op", "avgpool"}, {"n", 1}, {"c", 4}, {"h", 8}, {"w", 8}, {"r", 2}, {"stride", nullptr}}),
      "w.json");
  CHECK(std::get<Pool2dShape>(p.subgraphs[0].graph.op.shape).stride_h == 2);
}
