#include "observe/trace_context.h"

#include <gtest/gtest.h>

#include <cstring>
#include <set>
#include <string>

namespace sluice::observe {
namespace {

constexpr const char* kValid = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

std::string hex(const uint8_t* p, size_t n) {
  std::string s(2 * n, '?');
  to_hex(p, n, s.data());
  return s;
}

TEST(Traceparent, ParsesTheSpecExample) {
  TraceContext ctx;
  ASSERT_TRUE(parse_traceparent(kValid, &ctx));
  EXPECT_EQ(hex(ctx.trace_id, 16), "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ(hex(ctx.parent_id, 8), "00f067aa0ba902b7");
  EXPECT_EQ(ctx.flags, 1);
}

TEST(Traceparent, TrimsOptionalWhitespace) {
  TraceContext ctx;
  EXPECT_TRUE(parse_traceparent(std::string(" \t") + kValid + " ", &ctx));
}

TEST(Traceparent, KeepsUnknownFlags) {
  TraceContext ctx;
  ASSERT_TRUE(parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-fe", &ctx));
  EXPECT_EQ(ctx.flags, 0xfe);
}

TEST(Traceparent, RejectsMalformed) {
  TraceContext ctx;
  std::memset(&ctx, 0xaa, sizeof(ctx));
  const char* bad[] = {
      "",
      "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0",    // short
      "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-",  // 00 with more
      "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x",  // 00 with more
      "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",   // version ff
      "0g-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",   // version not hex
      "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",   // uppercase
      "00-4bf92f3577b34da6a3ce929d0e0e4736-00F067AA0BA902B7-01",   // uppercase
      "00-00000000000000000000000000000000-00f067aa0ba902b7-01",   // zero trace id
      "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",   // zero parent id
      "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",   // separator
      "00-4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7-01",
      "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7_01",
      "00-4bf92f3577b34da6a3ce929d0e0e473-600f067aa0ba902b7-01",     // misplaced dash
      "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0g",     // flags not hex
      "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x",    // v1: 56th char not '-'
      " 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01 x",  // junk after
  };
  for (const char* b : bad) {
    EXPECT_FALSE(parse_traceparent(b, &ctx)) << b;
  }
  EXPECT_EQ(ctx.flags, 0xaa) << "a failed parse must leave *out alone";
}

TEST(Traceparent, AcceptsHigherVersionsByTheirFirstFields) {
  TraceContext ctx;
  EXPECT_TRUE(parse_traceparent("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", &ctx));
  EXPECT_TRUE(parse_traceparent(
      "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-the-future-holds", &ctx));
  EXPECT_EQ(hex(ctx.parent_id, 8), "00f067aa0ba902b7");
  EXPECT_FALSE(parse_traceparent("CC-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", &ctx));
}

TEST(Traceparent, FormatRoundTrips) {
  TraceContext ctx;
  ASSERT_TRUE(parse_traceparent(kValid, &ctx));
  char out[kTraceparentSize];
  format_traceparent(ctx.trace_id, ctx.parent_id, true, out);
  EXPECT_EQ(std::string(out, sizeof(out)), kValid);
  format_traceparent(ctx.trace_id, ctx.parent_id, false, out);
  EXPECT_EQ(std::string(out, sizeof(out)),
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00");
}

TEST(Tracestate, AcceptsTheGrammar) {
  EXPECT_TRUE(valid_tracestate("congo=t61rcWkgMzE"));
  EXPECT_TRUE(valid_tracestate("rojo=00f067aa0ba902b7,congo=t61rcWkgMzE"));
  EXPECT_TRUE(valid_tracestate(" rojo=00f067aa0ba902b7 ,\t congo=t61rcWkgMzE "));
  EXPECT_TRUE(valid_tracestate("a=1,,b=2, ,c=3"));
  EXPECT_TRUE(valid_tracestate("tenant@system=x"));
  EXPECT_TRUE(valid_tracestate("1tenant@sys-tem_*/=x"));
  EXPECT_TRUE(valid_tracestate("k_-*/09=v a l!"));
  EXPECT_TRUE(valid_tracestate("k=" + std::string(256, 'v')));
  EXPECT_TRUE(valid_tracestate(std::string(256, 'k') + "=v"));
}

TEST(Tracestate, RejectsViolations) {
  EXPECT_FALSE(valid_tracestate(""));
  EXPECT_FALSE(valid_tracestate(" , ,"));
  EXPECT_FALSE(valid_tracestate("novalue"));
  EXPECT_FALSE(valid_tracestate("k="));
  EXPECT_FALSE(valid_tracestate("=v"));
  EXPECT_FALSE(valid_tracestate("Upper=v"));
  EXPECT_FALSE(valid_tracestate("1digitfirst=v"));
  EXPECT_FALSE(valid_tracestate("k=a=b"));
  EXPECT_FALSE(valid_tracestate("k=caf\xc3\xa9"));
  EXPECT_FALSE(valid_tracestate("k=tab\there"));
  EXPECT_FALSE(valid_tracestate("a@b@c=v"));
  EXPECT_FALSE(valid_tracestate("@sys=v"));
  EXPECT_FALSE(valid_tracestate("tenant@=v"));
  EXPECT_FALSE(valid_tracestate("tenant@1sys=v"));
  EXPECT_FALSE(valid_tracestate("tenant@systemnamewaytoolong=v"));
  EXPECT_FALSE(valid_tracestate("k=" + std::string(257, 'v')));
  EXPECT_FALSE(valid_tracestate(std::string(257, 'k') + "=v"));
  EXPECT_FALSE(valid_tracestate("a=1,b=2,a=3"));  // duplicate key
}

TEST(Tracestate, Limits) {
  std::string s;
  for (int i = 0; i < 32; ++i) s += (i ? "," : "") + std::string("k") + std::to_string(i) + "=v";
  EXPECT_TRUE(valid_tracestate(s));
  EXPECT_FALSE(valid_tracestate(s + ",k32=v"));
  std::string long_one = "a=" + std::string(250, 'x') + ",b=" + std::string(250, 'x');
  EXPECT_EQ(long_one.size(), 505u);
  EXPECT_TRUE(valid_tracestate(long_one));
  EXPECT_FALSE(valid_tracestate(long_one + ",c=12345"));  // 513 characters
}

TEST(Hex, RoundTrip) {
  uint8_t in[4] = {0x00, 0x9f, 0xa0, 0xff};
  char out[8];
  to_hex(in, 4, out);
  EXPECT_EQ(std::string(out, 8), "009fa0ff");
  uint8_t back[4];
  ASSERT_TRUE(from_hex(out, 4, back));
  EXPECT_EQ(std::memcmp(in, back, 4), 0);
  EXPECT_FALSE(from_hex("0A", 1, back));
}

TEST(IdGenerator, IdsAreNonZeroAndDistinct) {
  IdGenerator ids;
  std::set<std::string> seen;
  for (int i = 0; i < 10000; ++i) {
    uint8_t t[16], s[8];
    ids.trace_id(t);
    ids.span_id(s);
    EXPECT_TRUE(seen.insert(hex(t, 16)).second);
    EXPECT_TRUE(seen.insert(hex(s, 8)).second);
  }
}

TEST(IdGenerator, SeededIsReproducibleAndUnseededDiffers) {
  IdGenerator a(42), b(42), c, d;
  EXPECT_EQ(a.next(), b.next());
  EXPECT_NE(c.next(), d.next());
}

TEST(IdGenerator, UniformIsInRangeAndRoughlyUniform) {
  IdGenerator ids(7);
  constexpr int kN = 100000;
  int below_tenth = 0;
  double sum = 0;
  for (int i = 0; i < kN; ++i) {
    double u = ids.uniform();
    ASSERT_GE(u, 0.0);
    ASSERT_LT(u, 1.0);
    sum += u;
    if (u < 0.1) ++below_tenth;
  }
  EXPECT_NEAR(sum / kN, 0.5, 0.01);
  EXPECT_NEAR(below_tenth / double(kN), 0.1, 0.01);
}

}  // namespace
}  // namespace sluice::observe
