// Config versions on disk (src/config/history.h).
#include "config/history.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

namespace sluice::config {
namespace {

class HistoryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/sluice-history-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  VersionRecord rec(const char* source, const char* format) {
    VersionRecord r;
    r.hash = "h";
    r.source = source;
    r.author = "t";
    r.format = format;
    r.file_hash = "f";
    return r;
  }
  std::string dir_;
};

TEST_F(HistoryTest, RecordsPersistsAndReopens) {
  std::string err;
  {
    History h(dir_ + "/state", 50);
    ASSERT_TRUE(h.open(&err)) << err;
    VersionRecord a = rec("file", "yaml");
    ASSERT_TRUE(h.record(a, "a: 1\n", &err)) << err;
    VersionRecord b = rec("api", "json");
    b.rollback_of = 1;
    ASSERT_TRUE(h.record(b, "{\"a\": 2}\n", &err)) << err;
    EXPECT_EQ(a.version, 1u);
    EXPECT_EQ(b.version, 2u);
    EXPECT_GT(b.time_ms, 0u);
  }
  History h(dir_ + "/state", 50);
  ASSERT_TRUE(h.open(&err)) << err;
  ASSERT_EQ(h.records().size(), 2u);
  EXPECT_EQ(h.latest()->source, "api");
  EXPECT_EQ(h.latest()->rollback_of, 1u);
  EXPECT_EQ(h.text(1).value_or(""), "a: 1\n");
  EXPECT_EQ(h.text(2).value_or(""), "{\"a\": 2}\n");
  EXPECT_FALSE(h.text(3).has_value());
  EXPECT_TRUE(std::filesystem::exists(dir_ + "/state/versions/2.json"));
}

TEST_F(HistoryTest, BoundedAndIgnoresHalfWrittenVersions) {
  std::string err;
  History h(dir_, 3);
  ASSERT_TRUE(h.open(&err));
  for (int i = 0; i < 5; ++i) {
    VersionRecord r = rec("api", "json");
    ASSERT_TRUE(h.record(r, "{}\n", &err));
  }
  ASSERT_EQ(h.records().size(), 3u);
  EXPECT_EQ(h.records().front().version, 3u);
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/versions/2.json"));
  // A text whose meta file never got written (a crash between the two) is no version; a meta
  // file without its text is none either.
  std::ofstream(dir_ + "/versions/9.json") << "{}\n";
  std::ofstream(dir_ + "/versions/8.meta.json")
      << R"({"version":8,"hash":"h","time_ms":1,"source":"api","author":"t","format":"json"})";
  History again(dir_, 3);
  ASSERT_TRUE(again.open(&err));
  EXPECT_EQ(again.last_version(), 5u);
}

TEST_F(HistoryTest, InMemoryWhenTheDirectoryCannotBeMade) {
  std::ofstream(dir_ + "/file") << "x";
  std::string err;
  History h(dir_ + "/file/state", 50);
  EXPECT_FALSE(h.open(&err));
  EXPECT_NE(err.find("cannot create directory"), std::string::npos) << err;
  EXPECT_FALSE(h.on_disk());
  VersionRecord r = rec("file", "yaml");
  EXPECT_TRUE(h.record(r, "x: 1\n", &err));
  EXPECT_EQ(h.text(1).value_or(""), "x: 1\n");
}

TEST(Iso8601, Utc) {
  EXPECT_EQ(iso8601_utc(1796221560001), "2026-12-02T14:26:00.001Z");
}

}  // namespace
}  // namespace sluice::config
