// hyperlet bench --plot: the SVG is well-formed XML (parsed by expat) with the
// elements a reader needs: one row per baseline, a dot per run, labelled axes.
#include "cli/bench_plot.h"

#include <expat.h>
#include <gtest/gtest.h>

#include <map>
#include <string>

namespace hyperlet::bench {
namespace {

struct ParsedSvg {
  bool well_formed = false;
  std::string error;
  std::string root;
  std::map<std::string, int> elements;  // by name
  std::map<std::string, int> classes;   // by class attribute
  std::string text;                     // all character data
};

ParsedSvg parse_svg(const std::string& svg) {
  ParsedSvg parsed;
  XML_Parser parser = XML_ParserCreate("UTF-8");
  XML_SetUserData(parser, &parsed);
  XML_SetElementHandler(
      parser,
      [](void* data, const XML_Char* name, const XML_Char** attributes) {
        auto* out = static_cast<ParsedSvg*>(data);
        if (out->root.empty()) out->root = name;
        ++out->elements[name];
        for (int i = 0; attributes[i] != nullptr; i += 2) {
          if (std::string(attributes[i]) == "class") ++out->classes[attributes[i + 1]];
        }
      },
      [](void*, const XML_Char*) {});
  XML_SetCharacterDataHandler(parser, [](void* data, const XML_Char* text, int length) {
    static_cast<ParsedSvg*>(data)->text.append(text, static_cast<std::size_t>(length));
  });
  parsed.well_formed = XML_Parse(parser, svg.data(), static_cast<int>(svg.size()), 1) == XML_STATUS_OK;
  if (!parsed.well_formed) parsed.error = XML_ErrorString(XML_GetErrorCode(parser));
  XML_ParserFree(parser);
  return parsed;
}

BenchReport report_with_samples() {
  BenchReport report;
  report.benchmark = "compare";
  report.what = "wall time of one run, spawn to exit";
  report.runs = 5;
  report.warmup = 1;
  report.baselines.push_back({"native <&>", "x", {0.6e6, 0.61e6, 0.62e6, 0.7e6, 0.65e6}, std::nullopt});
  report.baselines.push_back({"runc container", "y", {140e6, 150e6, 145e6, 160e6, 139e6}, std::nullopt});
  report.baselines.push_back({"hyperlet cold", "z", {6e6, 6.2e6, 6.1e6, 7e6, 6.3e6}, 412});
  return report;
}

TEST(BenchPlot, SvgIsWellFormedWithARowPerBaselineAndADotPerRun) {
  const std::string svg = render_svg(plot_of(report_with_samples()));
  const ParsedSvg parsed = parse_svg(svg);
  ASSERT_TRUE(parsed.well_formed) << parsed.error << "\n" << svg;
  EXPECT_EQ(parsed.root, "svg");
  EXPECT_NE(svg.find("xmlns=\"http://www.w3.org/2000/svg\""), std::string::npos);
  EXPECT_EQ(parsed.elements.at("circle"), 15);
  EXPECT_EQ(parsed.classes.at("series"), 3);
  EXPECT_EQ(parsed.classes.at("box"), 3);
  EXPECT_EQ(parsed.classes.at("median"), 3);
  EXPECT_EQ(parsed.classes.at("axis-label"), 1);
  // Labels (escaped in the file, plain once parsed), the unit, the log axis, the pages.
  EXPECT_NE(parsed.text.find("native <&>"), std::string::npos);
  EXPECT_NE(parsed.text.find("hyperlet cold"), std::string::npos);
  EXPECT_NE(parsed.text.find("(ms)"), std::string::npos) << parsed.text;
  EXPECT_NE(parsed.text.find("logarithmic"), std::string::npos);
  EXPECT_NE(parsed.text.find("412 guest pages"), std::string::npos);
}

TEST(BenchPlot, EmptyAndSingleValueSeriesStillDraw) {
  PlotSpec spec;
  spec.title = "t";
  spec.unit = "ms";
  spec.axis_label = "x";
  spec.series.push_back({"empty", {}, ""});
  spec.series.push_back({"one", {3}, ""});
  const ParsedSvg parsed = parse_svg(render_svg(spec));
  ASSERT_TRUE(parsed.well_formed) << parsed.error;
  EXPECT_EQ(parsed.elements.at("circle"), 1);
  EXPECT_EQ(render_svg(PlotSpec{}).find("nan"), std::string::npos);
}

TEST(BenchPlot, DensityPlotIsWellFormed) {
  DensityReport report;
  report.vm_count = 2;
  DensityMode cold;
  cold.name = "cold";
  cold.vms = {{1, 5, 4000, 10, std::nullopt}, {2, 6, 4100, 10, std::nullopt}};
  cold.all_idle_ms = 10;
  report.modes.push_back(cold);
  const ParsedSvg parsed = parse_svg(render_svg(plot_of(report)));
  ASSERT_TRUE(parsed.well_formed) << parsed.error;
  EXPECT_EQ(parsed.elements.at("circle"), 2);
  EXPECT_NE(parsed.text.find("PSS per VM (KiB)"), std::string::npos);
}

TEST(BenchPlot, TicksAreNiceSteps) {
  EXPECT_EQ(axis_ticks(0, 10, false, 5), (std::vector<double>{0, 2, 4, 6, 8, 10}));
  EXPECT_EQ(axis_ticks(0.1, 100, true), (std::vector<double>{0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100}));
  EXPECT_TRUE(axis_ticks(5, 5, false).empty());
  EXPECT_TRUE(axis_ticks(0, 5, true).empty());
}

TEST(BenchPlot, EscapesXml) { EXPECT_EQ(xml_escape("a<b>&\"'"), "a&lt;b&gt;&amp;&quot;&apos;"); }

}  // namespace
}  // namespace hyperlet::bench
