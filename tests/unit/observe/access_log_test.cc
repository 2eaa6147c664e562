#include "observe/access_log.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <optional>
#include <sstream>
#include <thread>
#include <vector>

namespace sluice::observe {
namespace {

// A strict reader for the flat objects the log writes (string, number and null values), so the
// tests need no JSON library: it rejects raw control characters, bad escapes and invalid UTF-8.
bool valid_utf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    size_t n = c < 0x80             ? 1
               : (c & 0xe0) == 0xc0 ? 2
               : (c & 0xf0) == 0xe0 ? 3
               : (c & 0xf8) == 0xf0 ? 4
                                    : 0;
    if (n == 0 || i + n > s.size()) return false;
    uint32_t cp = n == 1 ? c : n == 2 ? (c & 0x1f) : n == 3 ? (c & 0x0f) : (c & 0x07);
    for (size_t k = 1; k < n; ++k) {
      const auto d = static_cast<unsigned char>(s[i + k]);
      if ((d & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (d & 0x3f);
    }
    const uint32_t min[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < min[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
    i += n;
  }
  return true;
}

void put_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xc0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3f)));
  } else {
    out.push_back(static_cast<char>(0xe0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3f)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3f)));
  }
}

// Values by key; strings decoded, numbers and null as their text. Empty optional: not JSON.
std::optional<std::map<std::string, std::string>> parse_flat_json(std::string_view line) {
  if (!valid_utf8(line)) return std::nullopt;
  std::map<std::string, std::string> out;
  size_t i = 0;
  auto string = [&](std::string& s) -> bool {
    if (i >= line.size() || line[i] != '"') return false;
    ++i;
    while (i < line.size() && line[i] != '"') {
      const auto c = static_cast<unsigned char>(line[i]);
      if (c < 0x20) return false;
      if (c != '\\') {
        s.push_back(line[i++]);
        continue;
      }
      if (++i >= line.size()) return false;
      switch (line[i]) {
        case '"':
        case '\\':
        case '/':
          s.push_back(line[i++]);
          break;
        case 'n':
          s.push_back('\n'), ++i;
          break;
        case 't':
          s.push_back('\t'), ++i;
          break;
        case 'r':
          s.push_back('\r'), ++i;
          break;
        case 'u': {
          if (i + 5 > line.size()) return false;
          uint32_t cp = 0;
          for (size_t k = 1; k <= 4; ++k) {
            const char h = line[i + k];
            if (!isxdigit(static_cast<unsigned char>(h))) return false;
            cp = cp * 16 + static_cast<uint32_t>(isdigit(h) ? h - '0' : (tolower(h) - 'a' + 10));
          }
          put_utf8(s, cp);
          i += 5;
          break;
        }
        default:
          return false;
      }
    }
    if (i >= line.size()) return false;
    ++i;
    return true;
  };
  if (line.empty() || line[i++] != '{') return std::nullopt;
  while (true) {
    std::string key;
    std::string value;
    if (!string(key) || i >= line.size() || line[i++] != ':') return std::nullopt;
    if (i < line.size() && line[i] == '"') {
      if (!string(value)) return std::nullopt;
    } else {
      while (i < line.size() && line[i] != ',' && line[i] != '}') value.push_back(line[i++]);
      if (value != "null") {
        char* end = nullptr;
        std::strtod(value.c_str(), &end);
        if (value.empty() || *end != '\0') return std::nullopt;
      }
    }
    if (!out.emplace(key, value).second) return std::nullopt;  // duplicate key
    if (i >= line.size()) return std::nullopt;
    if (line[i] == '}') break;
    if (line[i++] != ',') return std::nullopt;
  }
  if (++i != line.size()) return std::nullopt;
  return out;
}

AccessLogRecord sample() {
  AccessLogRecord r;
  r.time_unix_us = 1795684245123456;  // 2026-11-26T09:10:45.123456Z
  r.request_id = "req-1";
  r.trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
  r.client_address = "10.0.0.7:51234";
  r.method = "GET";
  r.host = "api.example.com";
  r.path = "/v1/users?id=7";
  r.route = "users";
  r.upstream = "users-svc";
  r.target = "10.1.0.3:8080";
  r.protocol = "HTTP/1.1";
  r.status = 200;
  r.bytes_in = 12;
  r.bytes_out = 3456;
  r.duration_us = 12345;
  r.upstream_connect_us = 250;
  r.upstream_response_us = 10001;
  r.tries = 1;
  r.user_agent = "curl/8.0";
  r.referer = "";
  r.error = "";
  return r;
}

std::string format(const AccessLogFormat& f, const AccessLogRecord& r) {
  std::string out;
  f.format(r, out);
  return out;
}

AccessLogFormat compile_ok(std::string_view spec) {
  std::string err;
  auto f = AccessLogFormat::compile(spec, &err);
  EXPECT_TRUE(f.has_value()) << spec << ": " << err;
  return f ? *f : *AccessLogFormat::compile("json", nullptr);
}

TEST(AccessLogFormat, JsonLineIsExact) {
  const std::string line = format(compile_ok("json"), sample());
  EXPECT_EQ(line,
            "{\"time\":\"2026-11-26T09:10:45.123Z\",\"request_id\":\"req-1\","
            "\"trace_id\":\"4bf92f3577b34da6a3ce929d0e0e4736\",\"client\":\"10.0.0.7:51234\","
            "\"method\":\"GET\",\"host\":\"api.example.com\",\"path\":\"/v1/users?id=7\","
            "\"route\":\"users\",\"upstream\":\"users-svc\",\"target\":\"10.1.0.3:8080\","
            "\"protocol\":\"HTTP/1.1\",\"status\":200,\"bytes_in\":12,\"bytes_out\":3456,"
            "\"duration_ms\":12.345,\"upstream_connect_ms\":0.250,\"upstream_response_ms\":10.001,"
            "\"tries\":1,\"user_agent\":\"curl/8.0\",\"referer\":\"\",\"error\":\"\"}\n");
  EXPECT_TRUE(compile_ok("").is_json());
}

TEST(AccessLogFormat, JsonParsesBackWithEveryKey) {
  AccessLogRecord r = sample();
  r.upstream_connect_us = -1;
  r.upstream_response_us = -1;
  r.target = "";
  r.error = "no healthy target";
  const std::string line = format(compile_ok("json"), r);
  ASSERT_EQ(line.back(), '\n');
  auto obj = parse_flat_json(std::string_view(line).substr(0, line.size() - 1));
  ASSERT_TRUE(obj) << line;
  std::vector<std::string> keys;
  for (const auto& [k, v] : *obj) keys.push_back(k);
  EXPECT_EQ(keys, (std::vector<std::string>{"bytes_in",
                                            "bytes_out",
                                            "client",
                                            "duration_ms",
                                            "error",
                                            "host",
                                            "method",
                                            "path",
                                            "protocol",
                                            "referer",
                                            "request_id",
                                            "route",
                                            "status",
                                            "target",
                                            "time",
                                            "trace_id",
                                            "tries",
                                            "upstream",
                                            "upstream_connect_ms",
                                            "upstream_response_ms",
                                            "user_agent"}));
  EXPECT_EQ((*obj)["upstream_connect_ms"], "null");
  EXPECT_EQ((*obj)["upstream_response_ms"], "null");
  EXPECT_EQ((*obj)["target"], "");
  EXPECT_EQ((*obj)["error"], "no healthy target");
  EXPECT_EQ((*obj)["duration_ms"], "12.345");
  EXPECT_EQ((*obj)["status"], "200");
}

TEST(AccessLogFormat, JsonEscapesHostileValues) {
  AccessLogRecord r = sample();
  const std::string path = std::string("/a\"b\\c\nd\re\tf") + '\0' + "\x01\x1f\x7f/" +
                           "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80";  // é € 😀 stay as they are
  const std::string agent =
      "x\xff y\xc0\xaf z\xed\xa0\x80 w\xf4\x90\x80\x80 \xe2\x82";  // invalid and truncated
  r.path = path;
  r.user_agent = agent;
  r.referer = "\"},\"status\":500,\"x\":\"";  // an attempt to inject a key
  const std::string line = format(compile_ok("json"), r);
  EXPECT_EQ(std::count(line.begin(), line.end(), '\n'), 1);
  auto obj = parse_flat_json(std::string_view(line).substr(0, line.size() - 1));
  ASSERT_TRUE(obj) << line;
  EXPECT_EQ((*obj)["path"], path);
  EXPECT_EQ((*obj)["referer"], r.referer);
  EXPECT_EQ((*obj)["status"], "200");
  EXPECT_NE(line.find("\\u000a"), std::string::npos);
  EXPECT_NE(line.find("\\u0000"), std::string::npos);
  // Each invalid byte is escaped on its own and decodes as the Latin-1 character of that byte.
  EXPECT_NE(line.find("x\\u00ff y\\u00c0\\u00af z\\u00ed\\u00a0\\u0080 w\\u00f4\\u0090\\u0080"
                      "\\u0080 \\u00e2\\u0082\""),
            std::string::npos)
      << line;
}

// The escapers test eight bytes at a time; a special byte must be caught at every offset.
TEST(AccessLogFormat, EscapesAtEveryOffsetOfALongValue) {
  const AccessLogFormat json = compile_ok("json");
  const AccessLogFormat tmpl = compile_ok("$path");
  for (const char special : {'"', '\\', '\n', '\x01', '\x1f', '\x7f', '\xff', '\x80'}) {
    for (size_t pos = 0; pos < 24; ++pos) {
      std::string path(24, 'a');
      path[pos] = special;
      AccessLogRecord r = sample();
      r.path = path;
      const std::string line = format(json, r);
      auto obj = parse_flat_json(std::string_view(line).substr(0, line.size() - 1));
      ASSERT_TRUE(obj) << line;
      const auto byte = static_cast<unsigned char>(special);
      std::string expected = path;
      if (byte >= 0x80) expected.replace(pos, 1, byte == 0xff ? "\xc3\xbf" : "\xc2\x80");
      EXPECT_EQ((*obj)["path"], expected) << int(byte) << " at " << pos;

      const std::string t = format(tmpl, r);
      const bool escaped = byte < 0x20 || byte == 0x7f || special == '"' || special == '\\';
      EXPECT_EQ(t.size(), 24u + (escaped ? 3u : 0u) + 1u) << int(byte) << " at " << pos;
      EXPECT_EQ(std::count(t.begin(), t.end(), '\n'), 1);
      EXPECT_EQ(std::count(t.begin(), t.end(), '"'), 0);
    }
  }
}

TEST(AccessLogFormat, IsoTimes) {
  const AccessLogFormat f = compile_ok("$time");
  auto at = [&](uint64_t us) {
    AccessLogRecord r;
    r.time_unix_us = us;
    return format(f, r);
  };
  EXPECT_EQ(at(0), "1970-01-01T00:00:00.000Z\n");
  EXPECT_EQ(at(951868799999000), "2000-02-29T23:59:59.999Z\n");
  EXPECT_EQ(at(946598400000000), "1999-12-31T00:00:00.000Z\n");
  EXPECT_EQ(at(4107587696007999), "2100-03-01T12:34:56.007Z\n");
}

TEST(AccessLogFormat, TemplateVariables) {
  const AccessLogFormat f = compile_ok(
      "$client \"$method $path $protocol\" $status ${bytes_out}B $duration_ms ms "
      "[$upstream/$target try $tries] $$5 $time_unix $duration_us ${upstream_connect_ms}");
  EXPECT_FALSE(f.is_json());
  EXPECT_EQ(format(f, sample()),
            "10.0.0.7:51234 \"GET /v1/users?id=7 HTTP/1.1\" 200 3456B 12.345 ms "
            "[users-svc/10.1.0.3:8080 try 1] $5 1795684245.123 12345 0.250\n");
}

TEST(AccessLogFormat, EveryVariableCompiles) {
  for (const char* name : {"time",
                           "time_iso",
                           "time_unix",
                           "request_id",
                           "trace_id",
                           "client",
                           "method",
                           "host",
                           "path",
                           "route",
                           "upstream",
                           "target",
                           "protocol",
                           "status",
                           "bytes_in",
                           "bytes_out",
                           "duration_ms",
                           "duration_us",
                           "upstream_connect_ms",
                           "upstream_response_ms",
                           "tries",
                           "user_agent",
                           "referer",
                           "error"}) {
    std::string err;
    EXPECT_TRUE(AccessLogFormat::compile(std::string("$") + name, &err)) << name << ": " << err;
    EXPECT_TRUE(AccessLogFormat::compile(std::string("${") + name + "}", &err)) << name;
  }
}

TEST(AccessLogFormat, BadTemplatesNameTheProblem) {
  std::string err;
  EXPECT_FALSE(AccessLogFormat::compile("$client $nope", &err));
  EXPECT_NE(err.find("unknown variable '$nope'"), std::string::npos) << err;
  EXPECT_FALSE(AccessLogFormat::compile("${status}${stauts}", &err));
  EXPECT_NE(err.find("'$stauts'"), std::string::npos) << err;
  EXPECT_FALSE(AccessLogFormat::compile("cost $ 5", &err));
  EXPECT_NE(err.find("$$"), std::string::npos) << err;
  EXPECT_FALSE(AccessLogFormat::compile("end $", &err));
  EXPECT_FALSE(AccessLogFormat::compile("${status", &err));
  EXPECT_NE(err.find("unterminated"), std::string::npos) << err;
  EXPECT_FALSE(AccessLogFormat::compile("$status\n$path", &err));
  EXPECT_TRUE(AccessLogFormat::compile("$status\n", &err));  // a YAML block scalar's newline
  EXPECT_FALSE(AccessLogFormat::compile("$status", nullptr).value().is_json());
  EXPECT_FALSE(AccessLogFormat::compile("$bad", nullptr));  // a null error is allowed
}

TEST(AccessLogFormat, TemplateEscapesHostileValuesAndMarksEmpty) {
  AccessLogRecord r = sample();
  r.user_agent = "evil\"\n10.0.0.1 \"GET /admin\\x22\x7f";
  r.referer = "";
  r.upstream_response_us = -1;
  r.path = "/caf\xc3\xa9";  // bytes >= 0x80 are written raw in templates
  const std::string line =
      format(compile_ok("\"$user_agent\" \"$referer\" $upstream_response_ms $path"), r);
  EXPECT_EQ(line, "\"evil\\x22\\x0a10.0.0.1 \\x22GET /admin\\x5cx22\\x7f\" \"-\" - /caf\xc3\xa9\n");
}

TEST(AccessLogFormat, NoReallocationOnceTheLineHasCapacity) {
  const AccessLogFormat json = compile_ok("json");
  const AccessLogFormat tmpl = compile_ok("$client \"$method $path\" $status $user_agent");
  std::string out;
  out.reserve(2048);
  const char* data = out.data();
  for (int i = 0; i < 100; ++i) {
    out.clear();
    json.format(sample(), out);
    tmpl.format(sample(), out);
  }
  EXPECT_EQ(out.data(), data);
  EXPECT_EQ(out.capacity(), 2048u);
}

std::string contents(const AccessLogBuffer& b) {
  const auto s = b.peek();
  return std::string(s.first) + std::string(s.second);
}

TEST(AccessLogBuffer, CapacityIsAPowerOfTwo) {
  EXPECT_EQ(AccessLogBuffer(1).capacity(), 64u);
  EXPECT_EQ(AccessLogBuffer(1000).capacity(), 1024u);
  EXPECT_EQ(AccessLogBuffer().capacity(), AccessLogBuffer::kDefaultCapacity);
}

TEST(AccessLogBuffer, WrapsAroundKeepingWholeLines) {
  AccessLogBuffer b(64);
  std::string expected;
  int wrapped = 0;
  for (int i = 0; i < 200; ++i) {
    const std::string line = "line " + std::to_string(i) + "\n";  // 7..9 bytes: drifts the seam
    ASSERT_TRUE(b.append(line));
    expected += line;
    if (i % 3 == 2) {
      const auto s = b.peek();
      if (!s.second.empty()) ++wrapped;
      EXPECT_EQ(std::string(s.first) + std::string(s.second), expected);
      b.consume(s.size());
      expected.clear();
    }
  }
  EXPECT_GT(wrapped, 10);
  EXPECT_EQ(b.drops(), 0u);
}

TEST(AccessLogBuffer, FullBufferDropsWholeLinesAndCounts) {
  AccessLogBuffer b(1024);
  const std::string line(99, 'x');
  const std::string full = line + "\n";
  int accepted = 0;
  for (int i = 0; i < 1000; ++i) accepted += b.append(full) ? 1 : 0;  // the consumer is stalled
  EXPECT_EQ(accepted, 10);
  EXPECT_EQ(b.drops(), 990u);
  const std::string c = contents(b);
  EXPECT_EQ(c.size(), 1000u);
  EXPECT_EQ(c.back(), '\n');
  EXPECT_TRUE(b.append(std::string(23, 'y') + "\n"));  // what is left still fits exactly
  EXPECT_FALSE(b.append("z\n"));
  EXPECT_FALSE(b.append(std::string(2000, 'w')));  // larger than the ring: never fits
  EXPECT_EQ(b.drops(), 992u);
  b.consume(100);
  EXPECT_TRUE(b.append(full));
  EXPECT_EQ(contents(b).size(), 1024u);
}

TEST(AccessLogBuffer, OneProducerOneConsumerKeepOrder) {
  AccessLogBuffer b(4096);
  constexpr int kLines = 200000;
  std::thread producer([&] {
    for (int i = 0; i < kLines;) {
      if (b.append(std::to_string(i) + "\n")) {
        ++i;
      } else {
        std::this_thread::yield();
      }
    }
  });
  int next = 0;
  std::string partial;
  while (next < kLines) {
    const auto s = b.peek();
    if (s.size() == 0) {
      std::this_thread::yield();
      continue;
    }
    std::string data = std::string(s.first) + std::string(s.second);
    b.consume(s.size());
    ASSERT_EQ(data.back(), '\n');
    std::istringstream in(data);
    for (std::string l; std::getline(in, l);) ASSERT_EQ(l, std::to_string(next++));
  }
  producer.join();
}

class AccessLogWriterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::path(::testing::TempDir()) /
           ("sluice_access_log_" + std::to_string(getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  static std::vector<std::string> lines_of(const std::filesystem::path& p) {
    std::ifstream in(p);
    std::vector<std::string> out;
    for (std::string l; std::getline(in, l);) out.push_back(l);
    return out;
  }

  static bool eventually(const std::function<bool()>& done) {
    for (int i = 0; i < 1000; ++i) {
      if (done()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return done();
  }

  std::filesystem::path dir_;
};

TEST_F(AccessLogWriterTest, FourWorkersEveryLineOnceInOrder) {
  const auto path = dir_ / "access.log";
  AccessLogWriter w(path.string());
  constexpr int kThreads = 4;
  constexpr int kLines = 100000;
  std::vector<AccessLogBuffer*> buffers;
  for (int t = 0; t < kThreads; ++t) buffers.push_back(w.add_buffer(64 * 1024));
  std::string err;
  ASSERT_TRUE(w.start(&err)) << err;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::string line;
      for (int i = 0; i < kLines;) {
        line = "w" + std::to_string(t) + " " + std::to_string(i) + "\n";
        if (buffers[t]->append(line)) {
          ++i;
        } else {
          std::this_thread::yield();  // the test wants every line; a worker would drop it
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  w.stop();

  const auto lines = lines_of(path);
  ASSERT_EQ(lines.size(), size_t{kThreads} * kLines);
  std::vector<int> next(kThreads, 0);
  for (const auto& l : lines) {
    ASSERT_EQ(l[0], 'w') << l;
    const int t = l[1] - '0';
    ASSERT_TRUE(t >= 0 && t < kThreads) << l;
    ASSERT_EQ(l.substr(3), std::to_string(next[t])) << l;
    ++next[t];
  }
  for (int t = 0; t < kThreads; ++t) EXPECT_EQ(next[t], kLines);
  EXPECT_EQ(w.lines_written(), uint64_t{kThreads} * kLines);
  EXPECT_EQ(w.bytes_written(), std::filesystem::file_size(path));
  EXPECT_EQ(w.write_errors(), 0u);
}

TEST_F(AccessLogWriterTest, StopDrainsEverything) {
  const auto path = dir_ / "access.log";
  AccessLogWriter w(path.string());
  AccessLogBuffer* b = w.add_buffer();
  std::string err;
  ASSERT_TRUE(w.start(&err)) << err;
  const AccessLogFormat f = compile_ok("json");
  std::string line;
  for (int i = 0; i < 1500; ++i) {  // fits in the ring: no append may fail
    line.clear();
    f.format(sample(), line);
    ASSERT_TRUE(b->append(line));
  }
  w.stop();
  w.stop();  // idempotent
  EXPECT_EQ(lines_of(path).size(), 1500u);
  EXPECT_EQ(w.lines_written(), 1500u);
  EXPECT_EQ(w.lines_dropped(), 0u);
}

TEST_F(AccessLogWriterTest, ReopenAfterRenameWritesToTheNewFile) {
  const auto path = dir_ / "access.log";
  const auto rotated = dir_ / "access.log.1";
  AccessLogWriter w(path.string());
  AccessLogBuffer* b = w.add_buffer(4096);
  std::string err;
  ASSERT_TRUE(w.start(&err)) << err;
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(b->append("before\n"));
  ASSERT_TRUE(eventually([&] { return w.lines_written() == 10; }));
  std::filesystem::rename(path, rotated);
  ASSERT_TRUE(b->append("late\n"));  // written before the reopen: lands in the rotated file
  ASSERT_TRUE(eventually([&] { return w.lines_written() == 11; }));
  w.reopen();
  ASSERT_TRUE(eventually([&] { return std::filesystem::exists(path); }));
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(b->append("after\n"));
  w.stop();
  const auto old_lines = lines_of(rotated);
  const auto new_lines = lines_of(path);
  ASSERT_EQ(old_lines.size(), 11u);
  EXPECT_EQ(old_lines.back(), "late");
  ASSERT_EQ(new_lines.size(), 5u);
  for (const auto& l : new_lines) EXPECT_EQ(l, "after");
}

TEST_F(AccessLogWriterTest, ReopenFailureKeepsTheOldFile) {
  const auto sub = dir_ / "sub";
  std::filesystem::create_directories(sub);
  const auto path = sub / "access.log";
  AccessLogWriter w(path.string());
  AccessLogBuffer* b = w.add_buffer(4096);
  std::string err;
  ASSERT_TRUE(w.start(&err)) << err;
  std::filesystem::rename(sub, dir_ / "moved");  // the directory is gone: reopen cannot create
  w.reopen();
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(b->append("kept\n"));
  w.stop();
  EXPECT_EQ(lines_of(dir_ / "moved" / "access.log").size(), 3u);
  EXPECT_EQ(w.write_errors(), 0u);
}

TEST_F(AccessLogWriterTest, SetPathMovesToAnotherFile) {
  const auto first = dir_ / "a.log";
  const auto second = dir_ / "b.log";
  AccessLogWriter w(first.string());
  AccessLogBuffer* b = w.add_buffer(4096);
  std::string err;
  ASSERT_TRUE(w.start(&err)) << err;
  ASSERT_TRUE(b->append("one\n"));
  ASSERT_TRUE(eventually([&] { return w.lines_written() == 1; }));
  w.set_path(second.string());
  ASSERT_TRUE(eventually([&] { return std::filesystem::exists(second); }));
  ASSERT_TRUE(b->append("two\n"));
  w.stop();
  EXPECT_EQ(lines_of(first), std::vector<std::string>{"one"});
  EXPECT_EQ(lines_of(second), std::vector<std::string>{"two"});
}

TEST_F(AccessLogWriterTest, UnwritablePathFailsStart) {
  const auto path = dir_ / "missing" / "access.log";
  AccessLogWriter w(path.string());
  std::string err;
  EXPECT_FALSE(w.start(&err));
  EXPECT_NE(err.find(path.string()), std::string::npos) << err;
  EXPECT_NE(err.find("No such file or directory"), std::string::npos) << err;
  AccessLogWriter dir_writer(dir_.string());  // a directory cannot be opened for writing
  EXPECT_FALSE(dir_writer.start(&err));
  EXPECT_NE(err.find("Is a directory"), std::string::npos) << err;
  w.stop();  // stop() without a thread does nothing
}

TEST_F(AccessLogWriterTest, WriteErrorsDropTheLinesInsteadOfStalling) {
  if (!std::filesystem::exists("/dev/full")) GTEST_SKIP() << "no /dev/full";
  AccessLogWriter w("/dev/full");
  AccessLogBuffer* b = w.add_buffer(4096);
  std::string err;
  ASSERT_TRUE(w.start(&err)) << err;
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(b->append("lost\n"));
  w.stop();
  EXPECT_GE(w.write_errors(), 1u);
  EXPECT_EQ(w.lines_written(), 0u);
  EXPECT_EQ(w.lines_dropped(), 20u);
  EXPECT_EQ(b->peek().size(), 0u);
}

TEST_F(AccessLogWriterTest, DroppedLinesAreCountedAcrossBuffers) {
  AccessLogWriter w((dir_ / "access.log").string());
  AccessLogBuffer* a = w.add_buffer(64);
  AccessLogBuffer* b = w.add_buffer(64);
  // Not started: nothing drains, so the buffers fill up.
  for (int i = 0; i < 10; ++i) {
    a->append(std::string(31, 'a') + "\n");
    b->append(std::string(31, 'b') + "\n");
  }
  EXPECT_EQ(w.lines_dropped(), 16u);
}

TEST_F(AccessLogWriterTest, HalfFullBufferWakesTheWriterEarly) {
  const auto path = dir_ / "access.log";
  AccessLogWriter w(path.string());
  AccessLogBuffer* b = w.add_buffer(64 * 1024);
  std::string err;
  ASSERT_TRUE(w.start(&err)) << err;
  // Far more than the ring holds, appended without pause: only early wake-ups keep up.
  const std::string line(99, 'x');
  uint64_t accepted = 0;
  for (int i = 0; i < 20000; ++i) {
    if (b->append(line + "\n")) {
      ++accepted;
    } else {
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
  }
  w.stop();
  EXPECT_EQ(w.lines_written(), accepted);
  EXPECT_EQ(lines_of(path).size(), accepted);
  EXPECT_EQ(accepted + b->drops(), 20000u);
}

}  // namespace
}  // namespace sluice::observe
