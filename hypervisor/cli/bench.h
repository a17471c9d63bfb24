// `hyperlet bench`: experiments on the user's own binary (boot, restore,
// hypercall, density, compare), every figure beside baselines measured in the
// same run, interleaved.
#pragma once

#include <string>
#include <vector>

namespace CLI {
class App;
}

namespace hyperlet::bench {

struct BenchOptions {
  std::string app;
  std::vector<std::string> arguments;
  std::string snapshot;                       // bench restore FILE
  int vm_count = 0;                           // bench density N
  std::vector<std::string> run_options;       // passed to every `hyperlet run` (and `snapshot`)
  std::vector<std::string> snapshot_options;  // passed only to `hyperlet snapshot` (e.g. --at-syscall)
  std::string publish_each;                   // bench density: a --publish rule whose host port counts up per VM
  std::string hyperlet;                       // the hyperlet binary measured; "" = this one
  int runs = 30;
  int warmup = 3;
  int calls = 1000;  // bench hypercall: calls per sample
  std::string json_path;
  std::string csv_path;
  std::string plot_path;
};

// Adds `bench` to the command line; its subcommands and options are added
// apart, only when they can be needed (named_command in cli/command_line.h).
CLI::App* add_bench_command(CLI::App& app);
// `hyperlet bench kvm-floor` (the raw KVM floor's own process) builds only that one.
void add_bench_options(CLI::App* bench, BenchOptions& options, int argc, char** argv);
// Runs the bench subcommand that was parsed; returns the exit status.
int run_bench(const CLI::App& bench, const BenchOptions& options, int argc, char** argv);

}  // namespace hyperlet::bench
