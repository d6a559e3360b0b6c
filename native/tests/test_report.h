// What the native test binaries found, printed as they go ("PASS name ..." / "FAIL name ...") and,
// with --json FILE, written as one JSON document for scripts/gpu-check to merge into its report.
#pragma once
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

namespace lotus::testing {

inline std::string jsonString(const std::string& text) {
  std::string out = "\"";
  for (unsigned char c : text) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20) {
      char escaped[8];
      std::snprintf(escaped, sizeof escaped, "\\u%04x", c);
      out += escaped;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + "\"";
}

inline std::string jsonNumber(double value) {
  if (std::isnan(value)) return "null";
  if (std::isinf(value)) return value > 0 ? "1e308" : "-1e308";
  char text[64];
  std::snprintf(text, sizeof text, "%.9g", value);
  return text;
}

class Report {
 public:
  struct Check {
    std::string group, name, detail;
    bool ok = true;
    double maxError = 0;
    size_t mismatches = 0, count = 0;
  };
  struct Metric {
    std::string group, name, unit;
    double value = 0;
  };

  // A comparison: ok when no element differs by more than the tolerance.
  bool compare(const std::string& group, const std::string& name, double maxError, size_t mismatches, size_t count,
               double tolerance) {
    Check check{group, name, "", maxError <= tolerance && mismatches == 0, maxError, mismatches, count};
    std::printf("%s %-64s max_err=%.3g mismatches=%zu/%zu\n", check.ok ? "PASS" : "FAIL", name.c_str(), maxError,
                mismatches, count);
    checks_.push_back(check);
    return check.ok;
  }

  // A yes/no check with what was seen.
  bool expect(const std::string& group, const std::string& name, bool ok, const std::string& detail) {
    Check check;
    check.group = group;
    check.name = name;
    check.detail = detail;
    check.ok = ok;
    std::printf("%s %s%s%s\n", ok ? "PASS" : "FAIL", name.c_str(), detail.empty() ? "" : ": ", detail.c_str());
    checks_.push_back(check);
    return ok;
  }

  void metric(const std::string& group, const std::string& name, double value, const std::string& unit) {
    metrics_.push_back({group, name, unit, value});
  }

  void note(const std::string& key, const std::string& value) { notes_.push_back({key, value}); }

  int failures() const {
    int count = 0;
    for (const Check& check : checks_) count += check.ok ? 0 : 1;
    return count;
  }

  // {"skipped": reason} when `skipped` is set, else the checks, metrics and notes.
  bool writeJson(const std::string& path, const std::string& skipped = "") const {
    if (path.empty()) return true;
    FILE* file = std::fopen(path.c_str(), "w");
    if (file == nullptr) {
      std::fprintf(stderr, "cannot write %s\n", path.c_str());
      return false;
    }
    std::string out = "{";
    if (!skipped.empty()) {
      out += "\"skipped\": " + jsonString(skipped);
    } else {
      out += "\"failures\": " + std::to_string(failures()) + ", \"notes\": {";
      for (size_t i = 0; i < notes_.size(); ++i) {
        out += (i ? ", " : "") + jsonString(notes_[i].first) + ": " + jsonString(notes_[i].second);
      }
      out += "},\n\"checks\": [";
      for (size_t i = 0; i < checks_.size(); ++i) {
        const Check& c = checks_[i];
        out += std::string(i ? ",\n" : "\n") + " {\"group\": " + jsonString(c.group) + ", \"name\": " + jsonString(c.name) +
               ", \"ok\": " + (c.ok ? "true" : "false");
        if (c.count > 0) {
          out += ", \"maxError\": " + jsonNumber(c.maxError) + ", \"mismatches\": " + std::to_string(c.mismatches) +
                 ", \"count\": " + std::to_string(c.count);
        }
        if (!c.detail.empty()) out += ", \"detail\": " + jsonString(c.detail);
        out += "}";
      }
      out += "],\n\"metrics\": [";
      for (size_t i = 0; i < metrics_.size(); ++i) {
        const Metric& m = metrics_[i];
        out += std::string(i ? ",\n" : "\n") + " {\"group\": " + jsonString(m.group) + ", \"name\": " + jsonString(m.name) +
               ", \"value\": " + jsonNumber(m.value) + ", \"unit\": " + jsonString(m.unit) + "}";
      }
      out += "]";
    }
    out += "}\n";
    bool ok = std::fputs(out.c_str(), file) >= 0;
    return std::fclose(file) == 0 && ok;
  }

 private:
  std::vector<Check> checks_;
  std::vector<Metric> metrics_;
  std::vector<std::pair<std::string, std::string>> notes_;
};

// Compares floats exactly as the parity tests need: NaN equals NaN, a mismatch is an error above
// `tolerance` (0: bit-identical values, except -0 == +0).
inline bool compareFloats(Report& report, const std::string& group, const std::string& name,
                          const std::vector<float>& expected, const float* actual, size_t actualCount,
                          double tolerance) {
  if (expected.size() != actualCount) {
    return report.expect(group, name, false,
                         "size " + std::to_string(actualCount) + ", expected " + std::to_string(expected.size()));
  }
  double maxError = 0;
  size_t mismatches = 0;
  for (size_t i = 0; i < expected.size(); ++i) {
    if (std::isnan(expected[i]) && std::isnan(actual[i])) continue;
    double error = std::fabs(static_cast<double>(expected[i]) - actual[i]);
    if (std::isnan(error)) error = INFINITY;
    if (error > maxError) maxError = error;
    if (error > tolerance) ++mismatches;
  }
  return report.compare(group, name, maxError, mismatches, expected.size(), tolerance);
}

}  // namespace lotus::testing
