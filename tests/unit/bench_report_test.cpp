// hyperlet bench's output: the terminal table, JSON and CSV shapes.
#include "cli/bench_report.h"

#include <gtest/gtest.h>

#include <sstream>

namespace hyperlet::bench {
namespace {

BenchReport sample_report() {
  BenchReport report;
  report.benchmark = "compare";
  report.command_line = "hyperlet bench compare hello";
  report.what = "wall time of one run, spawn to exit";
  report.reference = "hyperlet cold";
  report.runs = 4;
  report.warmup = 1;
  report.baselines.push_back({"native", "hello", {600e3, 620e3, 640e3, 700e3}, std::nullopt});
  report.baselines.push_back({"hyperlet cold", "hyperlet run hello", {6.0e6, 6.2e6, 6.4e6, 9.0e6}, 412});
  report.skipped.push_back({"runc container", "runc is not installed, \"apt-get install runc\""});
  report.notes.push_back("a note");
  report.machine = {{"kernel", "Linux 6.1"}};
  return report;
}

TEST(BenchReport, FormatsNanosecondsInTheUnitOfTheMagnitude) {
  EXPECT_EQ(format_ns(6.69e6, 1e6), "6.69 ms");
  EXPECT_EQ(format_ns(0.621e6, 6e6), "0.621 ms");
  EXPECT_EQ(format_ns(145.4e6, 145e6), "145 ms");
  EXPECT_EQ(format_ns(94.12e3, 1e3), "94.1 µs");
  EXPECT_EQ(format_ns(812, 812), "812 ns");
  EXPECT_EQ(format_ns(6.69e6, 1e3), "6690 µs");
}

TEST(BenchReport, TextTableHasEveryBaselineRatioPagesAndSkips) {
  const std::string text = format_text(sample_report());
  EXPECT_NE(text.find("median"), std::string::npos);
  EXPECT_NE(text.find("p99"), std::string::npos);
  EXPECT_NE(text.find("native"), std::string::npos);
  EXPECT_NE(text.find("0.10 "), std::string::npos) << text;  // 0.63 ms / 6.3 ms
  EXPECT_NE(text.find("0.630 ms"), std::string::npos) << text;
  EXPECT_NE(text.find("1.00"), std::string::npos) << text;
  EXPECT_NE(text.find("412"), std::string::npos) << text;
  EXPECT_NE(text.find("skipped: runc container"), std::string::npos) << text;
  EXPECT_NE(text.find("note: a note"), std::string::npos) << text;
}

TEST(BenchReport, JsonHasStatsFieldsPerBaseline) {
  const nlohmann::json json = to_json(sample_report());
  EXPECT_EQ(json["benchmark"], "compare");
  EXPECT_EQ(json["reference"], "hyperlet cold");
  ASSERT_EQ(json["baselines"].size(), 2U);
  for (const auto& baseline : json["baselines"]) {
    for (const char* field : {"name", "command", "count", "median", "p90", "p99", "min", "max", "mean", "samples",
                              "ratio_to_reference", "guest_pages_touched"}) {
      EXPECT_TRUE(baseline.contains(field)) << field;
    }
    EXPECT_EQ(baseline["count"], 4);
    EXPECT_LE(baseline["min"].get<double>(), baseline["median"].get<double>());
    EXPECT_LE(baseline["median"].get<double>(), baseline["p90"].get<double>());
    EXPECT_LE(baseline["p99"].get<double>(), baseline["max"].get<double>());
  }
  EXPECT_DOUBLE_EQ(json["baselines"][0]["median"].get<double>(), 630e3);
  EXPECT_DOUBLE_EQ(json["baselines"][1]["ratio_to_reference"].get<double>(), 1.0);
  EXPECT_TRUE(json["baselines"][0]["guest_pages_touched"].is_null());
  EXPECT_EQ(json["baselines"][1]["guest_pages_touched"], 412);
  EXPECT_EQ(json["skipped"][0]["name"], "runc container");
  // It survives a round trip through text.
  EXPECT_EQ(nlohmann::json::parse(json.dump()), json);
}

TEST(BenchReport, CsvHasOneRowPerSampleAndQuotesFields) {
  BenchReport report = sample_report();
  report.baselines[0].name = "native, \"plain\"";
  const std::string csv = to_csv(report);
  std::istringstream lines(csv);
  std::string line;
  std::getline(lines, line);
  EXPECT_EQ(line, "benchmark,baseline,run,value,unit");
  int rows = 0;
  while (std::getline(lines, line)) ++rows;
  EXPECT_EQ(rows, 8);
  EXPECT_NE(csv.find("compare,\"native, \"\"plain\"\"\",1,600000,ns\n"), std::string::npos) << csv;
  EXPECT_NE(csv.find("compare,hyperlet cold,4,9000000,ns\n"), std::string::npos) << csv;
}

DensityReport sample_density() {
  DensityReport report;
  report.vm_count = 2;
  DensityMode cold;
  cold.name = "cold";
  cold.command = "hyperlet run app";
  cold.vms = {{100, 5.0, 4000, 10, std::nullopt}, {101, 8.0, 4200, 10, std::nullopt}};
  cold.all_idle_ms = 10;
  cold.bench_fds_before = 4;
  cold.bench_fds_after = 4;
  report.modes.push_back(cold);
  return report;
}

TEST(BenchReport, DensityRateTotalsAndShapes) {
  const DensityReport report = sample_density();
  EXPECT_DOUBLE_EQ(start_rate_per_second(report.modes[0]), 200);
  const nlohmann::json json = to_json(report);
  EXPECT_EQ(json["modes"][0]["pss_kib_total"], 8200);
  EXPECT_EQ(json["modes"][0]["fds_total"], 20);
  EXPECT_DOUBLE_EQ(json["modes"][0]["pss_kib_per_vm"]["median"].get<double>(), 4100);
  EXPECT_EQ(json["modes"][0]["leftover_processes"], 0);
  EXPECT_EQ(json["modes"][0]["vms"].size(), 2U);
  const std::string csv = to_csv(report);
  EXPECT_EQ(
      csv,
      "mode,vm,pid,start_ms,pss_kib,fds,guest_written_kib\ncold,1,100,5.000,4000,10,\ncold,2,101,8.000,4200,10,\n");
  const std::string text = format_text(report);
  EXPECT_NE(text.find("200 /s"), std::string::npos) << text;
  EXPECT_NE(text.find("0 left running"), std::string::npos) << text;
}

TEST(BenchReport, DensityRestoredVmsShowPssBeyondTheirOwnPages) {
  DensityReport report = sample_density();
  DensityMode restored;
  restored.name = "restored";
  restored.vms = {{200, 3.0, 500, 12, 100}, {201, 4.0, 700, 12, 200}, {202, 5.0, 900, 12, 300}};
  restored.all_idle_ms = 5;
  restored.host_memory_used_while_idle_kib = 3000;
  report.modes.push_back(restored);
  const nlohmann::json json = to_json(report);
  EXPECT_FALSE(json["modes"][0].contains("pss_beyond_written_kib_per_vm"));
  EXPECT_FALSE(json["modes"][0]["vms"][0].contains("guest_written_kib"));
  EXPECT_DOUBLE_EQ(json["modes"][1]["guest_written_kib_per_vm"]["median"].get<double>(), 200);
  EXPECT_DOUBLE_EQ(json["modes"][1]["pss_beyond_written_kib_per_vm"]["median"].get<double>(), 500);
  EXPECT_DOUBLE_EQ(json["modes"][1]["pss_beyond_written_kib_per_vm"]["max"].get<double>(), 600);
  EXPECT_EQ(json["modes"][1]["mem_available_used_while_idle_kib"], 3000);
  EXPECT_NE(to_csv(report).find("restored,3,202,5.000,900,12,300\n"), std::string::npos);
  const std::string text = format_text(report);
  EXPECT_NE(text.find("PSS beyond them: 500 KiB median"), std::string::npos) << text;
  EXPECT_NE(text.find("(1000 KiB per VM)"), std::string::npos) << text;
}

}  // namespace
}  // namespace hyperlet::bench
