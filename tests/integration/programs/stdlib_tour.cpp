// A tour of the standard library whose output is deterministic, so that the
// same binary must print exactly the same thing natively and in a microVM.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <memory>
#include <numeric>
#include <random>
#include <regex>
#include <sstream>
#include <string>
#include <unordered_map>
#include <vector>

namespace {

void chrono_section() {
  using namespace std::chrono;
  const auto start = steady_clock::now();
  volatile std::uint64_t work = 0;
  for (int i = 0; i < 100000; ++i) work = work + static_cast<std::uint64_t>(i);
  const auto end = steady_clock::now();
  std::cout << "steady clock monotonic: " << std::boolalpha << (end >= start) << '\n';
  const auto now = system_clock::now();
  const auto year = year_month_day{floor<days>(now)}.year();
  std::cout << "system clock plausible: " << (year >= std::chrono::year{2024} && year < std::chrono::year{2200})
            << '\n';
  std::cout << "90 minutes = " << duration_cast<hours>(minutes{90}).count() << "h "
            << (minutes{90} % hours{1}).count() << "min = " << duration_cast<seconds>(minutes{90}).count()
            << "s\n";
}

void random_and_sort_section() {
  std::mt19937 engine(20241127);
  std::uniform_int_distribution<int> distribution(-1000000, 1000000);
  std::vector<int> numbers(1000000);
  for (auto& number : numbers) number = distribution(engine);
  std::sort(numbers.begin(), numbers.end());
  const long long sum = std::accumulate(numbers.begin(), numbers.end(), 0LL);
  std::cout << "sorted " << numbers.size() << " ints: " << std::is_sorted(numbers.begin(), numbers.end())
            << " min=" << numbers.front() << " median=" << numbers[numbers.size() / 2]
            << " max=" << numbers.back() << " sum=" << sum << '\n';
  std::mt19937_64 engine64(42);
  std::cout << "mt19937_64(42) first: " << engine64() << '\n';
}

void unordered_map_section() {
  const std::string text = "the quick brown fox jumps over the lazy dog the fox";
  std::unordered_map<std::string, int> counts;
  std::istringstream words(text);
  for (std::string word; words >> word;) ++counts[word];
  std::vector<std::pair<std::string, int>> sorted(counts.begin(), counts.end());
  std::sort(sorted.begin(), sorted.end());
  std::cout << "word counts:";
  for (const auto& [word, count] : sorted) std::cout << ' ' << word << '=' << count;
  std::cout << '\n';
  std::unordered_map<int, int> squares;
  for (int i = 0; i < 100000; ++i) squares[i] = i * i % 1000;
  long long total = 0;
  for (const auto& [key, value] : squares) total += value;
  std::cout << "unordered_map size=" << squares.size() << " total=" << total << '\n';
}

void regex_section() {
  const std::string log = "2024-11-27 ERROR disk full; 2024-11-28 INFO ok; 2025-01-02 ERROR cpu hot";
  const std::regex pattern(R"((\d{4})-(\d{2})-(\d{2}) (ERROR|INFO) ([a-z ]+))");
  for (auto it = std::sregex_iterator(log.begin(), log.end(), pattern); it != std::sregex_iterator(); ++it) {
    std::cout << "regex: year=" << (*it)[1] << " level=" << (*it)[4] << " text=" << (*it)[5] << '\n';
  }
  std::cout << "regex_replace: " << std::regex_replace(log, std::regex("ERROR"), "E") << '\n';
  std::cout << "regex_match email: " << std::regex_match("user@example.org", std::regex(R"(\w+@\w+\.\w+)"))
            << '\n';
}

void filesystem_section() {
  const std::filesystem::path path = "/srv/app/data/report.final.txt";
  std::cout << "path: parent=" << path.parent_path() << " filename=" << path.filename()
            << " stem=" << path.stem() << " extension=" << path.extension() << '\n';
  std::filesystem::path joined = std::filesystem::path("a") / "b" / ".." / "c.txt";
  std::cout << "joined=" << joined.generic_string() << " normal=" << joined.lexically_normal().generic_string()
            << " relative=" << std::filesystem::path("/a/b/c").lexically_relative("/a/x").generic_string()
            << '\n';
}

void formatting_section() {
  std::cout << '[' << std::setw(8) << 42 << "][" << std::left << std::setw(8) << "left" << std::right << "]\n";
  std::cout << std::fixed << std::setprecision(3) << 3.14159265 << ' ' << std::scientific << 123456.789 << '\n';
  std::cout << std::defaultfloat << std::setprecision(10) << 2.0 / 3.0 << '\n';
  std::cout << std::hex << std::showbase << 255 << ' ' << std::uppercase << 0xdeadbeef << std::nouppercase
            << std::dec << std::noshowbase << ' ' << std::setfill('0') << std::setw(6) << 123 << std::setfill(' ')
            << '\n';
}

struct Shape {
  virtual ~Shape() = default;
  virtual std::string name() const = 0;
  virtual double area() const = 0;
};

struct Square final : Shape {
  explicit Square(double side) : side_(side) {}
  std::string name() const override { return "square"; }
  double area() const override { return side_ * side_; }
  double side_;
};

struct Circle final : Shape {
  explicit Circle(double radius) : radius_(radius) {}
  std::string name() const override { return "circle"; }
  double area() const override { return 3.141592653589793 * radius_ * radius_; }
  double radius_;
};

void virtual_dispatch_section() {
  std::vector<std::unique_ptr<Shape>> shapes;
  shapes.push_back(std::make_unique<Square>(2.5));
  shapes.push_back(std::make_unique<Circle>(1.0));
  shapes.push_back(std::make_unique<Square>(10));
  double total = 0;
  for (const auto& shape : shapes) {
    std::cout << shape->name() << ": " << std::fixed << std::setprecision(4) << shape->area() << '\n';
    total += shape->area();
  }
  std::cout << "total area: " << total << std::defaultfloat << '\n';
}

}  // namespace

int main() {
  chrono_section();
  random_and_sort_section();
  unordered_map_section();
  regex_section();
  filesystem_section();
  formatting_section();
  virtual_dispatch_section();
  std::cout << "done" << std::endl;
  return 0;
}
