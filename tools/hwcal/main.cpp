// hwcal: calibrate a machine per DNN operation and predict subgraph latency.
#include "cli.hpp"

#include <hwcal/error.hpp>
#include <hwcal/version.hpp>

#include <cstdio>
#include <exception>

int main(int argc, char** argv) {
  using namespace hwcal::cli;
  CLI::App app{"hwcal " HWCAL_VERSION_STRING
               ": measures what this machine achieves per DNN operation and predicts subgraph latency from it.\n"
               "Typical use:\n"
               "  hwcal calibrate --quick -o profile.json     # measure this machine (seconds; full: minutes)\n"
               "  hwcal show profile.json                     # read the profile as tables\n"
               "  hwcal predict --profile profile.json --workload model.json\n"
               "  hwcal compare old.json new.json             # what changed between two profiles\n"
               "  hwcal ops                                   # the op kinds a workload can use\n"
               "  hwcal roofline profile.json -o roofline.svg # the profile as a roofline picture (.html: hover text)\n"
               "  hwcal trace model.py:build --input-shape 1,3,224,224 -o model.json  # a PyTorch model as a workload",
               "hwcal"};
  app.set_version_flag("--version", HWCAL_VERSION_STRING);
  app.require_subcommand(1);
  app.footer(
      "Exit codes: 0 ok, 1 runtime failure, 2 bad input (usage, broken profile/workload, backend not built).\n"
      "Run `hwcal <command> --help` for each command's options.");

  std::vector<std::pair<CLI::App*, Action>> commands;
  auto reg = [&](Action (*add)(CLI::App&)) {
    const std::size_t before = app.get_subcommands({}).size();
    Action a = add(app);
    commands.push_back({app.get_subcommands({})[before], std::move(a)});
  };
  reg(add_calibrate);
  reg(add_show);
  reg(add_predict);
  reg(add_compare);
  reg(add_ops);
  reg(add_roofline);
  reg(add_trace);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? exit_ok : exit_bad_input;
  }
  try {
    for (auto& [sub, action] : commands)
      if (sub->parsed()) return action();
  } catch (const CLI::Error& e) {  // option values found invalid while running
    std::fprintf(stderr, "hwcal: error: %s\n", e.what());
    return exit_bad_input;
  } catch (const hwcal::DocumentError& e) {
    std::fprintf(stderr, "hwcal: error: %s\n", e.what());
    return exit_bad_input;
  } catch (const hwcal::UnavailableError& e) {
    std::fprintf(stderr, "hwcal: error: %s\n", e.what());
    return exit_bad_input;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "hwcal: error: %s\n", e.what());
    return exit_failure;
  }
  return exit_failure;
}
