#pragma once
// Workload files: a model as a list of subgraphs, version 1 (docs/workload.md).
//
//   {"hwcal_workload": 1, "name": "resnet18", "precision": "fp32",
//    "subgraphs": [{"name": "conv1", "op": "conv2d", "n": 1, "c": 3, ...,
//                   "precision": "bf16", "fused": ["batchnorm", "relu"]}]}
//
// A malformed workload is rejected with the file, the subgraph's name and the
// JSON pointer of the field. Fields a subgraph's op does not know are not an
// error (files may carry annotations) but produce a warning, so a misspelt
// "stirde" does not pass silently.

#include <hwcal/detail/json_reader.hpp>
#include <hwcal/detail/shape_json.hpp>
#include <hwcal/mapper.hpp>
#include <hwcal/profile_io.hpp>

#include <algorithm>
#include <string>
#include <vector>

namespace hwcal {

inline constexpr int workload_version = 1;

struct WorkloadSubgraph {
  std::string name;
  Subgraph graph;
};

struct Workload {
  std::string name;
  Precision precision = Precision::fp32;
  std::vector<WorkloadSubgraph> subgraphs;
  std::vector<std::string> warnings;  ///< ignored fields and the like
};

inline Workload parse_workload(const nlohmann::json& j, const std::string& file) {
  using detail::JsonReader;
  const JsonReader r(j, file);
  r.expect_object();
  const JsonReader ver = r.at("hwcal_workload");
  if (ver.integer() != workload_version)
    ver.fail("unsupported workload version " + ver.json().dump() + " (this hwcal reads version " +
             std::to_string(workload_version) + ")");
  Workload w;
  w.name = r.string_or("name", "");
  if (auto p = r.find("precision")) w.precision = p->enumeration<Precision>("precision");
  const JsonReader subs = r.at("subgraphs");
  subs.expect_array();
  for (std::size_t i = 0; i < subs.size(); ++i) {
    const JsonReader s = subs.at(i);
    WorkloadSubgraph g;
    g.name = s.json().is_object() && s.json().contains("name") && s.json()["name"].is_string()
                 ? s.json()["name"].get<std::string>()
                 : "#" + std::to_string(i);
    try {
      s.expect_object();
      g.name = s.at("name").string();
      const OpKind kind = s.at("op").enumeration<OpKind>("op");
      g.graph.op = OpDesc{kind, detail::shape_from_json(kind, s)};
      g.graph.precision = s.find("precision") ? s.at("precision").enumeration<Precision>("precision") : w.precision;
      if (auto fused = s.find("fused")) {
        for (std::size_t f = 0; f < fused->size(); ++f) {
          const JsonReader item = fused->at(f);
          const OpKind fk = item.enumeration<OpKind>("op");
          if (!is_fusable(fk))
            item.fail("'" + std::string(to_string(fk)) +
                      "' cannot be fused into another op (batchnorm, softmax or an activation can)");
          g.graph.fused |= fused_bit(fk);
        }
        if ((g.graph.fused & fused_bit(OpKind::batchnorm)) && kind != OpKind::conv2d && kind != OpKind::linear)
          fused->fail("batchnorm can only be fused into conv2d or linear");
      }
      const std::vector<std::string> known = detail::shape_fields(kind);
      for (auto it = s.json().begin(); it != s.json().end(); ++it) {
        const std::string& key = it.key();
        if (key == "name" || key == "op" || key == "precision" || key == "fused" ||
            std::find(known.begin(), known.end(), key) != known.end())
          continue;
        w.warnings.push_back("subgraph '" + g.name + "': field '" + key + "' is not used by op " +
                             std::string(to_string(kind)) + " and was ignored");
      }
    } catch (const DocumentError& e) {
      throw DocumentError(file, e.pointer(), "subgraph '" + g.name + "': " + e.problem());
    }
    w.subgraphs.push_back(std::move(g));
  }
  return w;
}

inline Workload load_workload(const std::string& path) { return parse_workload(read_json_file(path), path); }

inline nlohmann::json to_json(const Workload& w) {
  nlohmann::json j = {{"hwcal_workload", workload_version}, {"name", w.name}, {"precision", to_string(w.precision)}};
  auto& subs = j["subgraphs"] = nlohmann::json::array();
  for (const auto& g : w.subgraphs) {
    nlohmann::json s = {{"name", g.name}, {"op", to_string(g.graph.op.kind)}};
    s.update(detail::shape_to_json(g.graph.op));
    if (g.graph.precision != w.precision) s["precision"] = to_string(g.graph.precision);
    if (g.graph.fused) {
      auto& f = s["fused"] = nlohmann::json::array();
      for (int k = 0; k < op_kind_count; ++k)
        if (g.graph.fused & fused_bit(static_cast<OpKind>(k))) f.push_back(to_string(static_cast<OpKind>(k)));
    }
    subs.push_back(std::move(s));
  }
  return j;
}

}  // namespace hwcal
