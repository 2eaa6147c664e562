// EventBus: ids, the bounded ring a reconnecting client resumes from, listeners that may remove
// themselves while called; webhook kind filters.
#include "observe/events.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "observe/webhooks.h"

namespace sluice::observe {
namespace {

TEST(EventBus, EventsAreJsonObjectsWithConsecutiveIds) {
  EventBus bus(10);
  EXPECT_EQ(bus.last_id(), 0u);
  EXPECT_EQ(bus.first_id(), 1u);
  EXPECT_EQ(bus.publish("breaker.opened", "\"upstream\":\"a\\\"b\""), 1u);
  EXPECT_EQ(bus.publish("config.applied", ""), 2u);
  std::vector<Event> all = bus.since(0, 100);
  ASSERT_EQ(all.size(), 2u);
  const auto j = nlohmann::json::parse(all[0].json);
  EXPECT_EQ(j["id"], 1);
  EXPECT_EQ(j["kind"], "breaker.opened");
  EXPECT_EQ(j["upstream"], "a\"b");
  EXPECT_EQ(j["time_ms"].get<uint64_t>(), all[0].time_ms);
  EXPECT_EQ(j["time"].get<std::string>().back(), 'Z');
  EXPECT_EQ(nlohmann::json::parse(all[1].json).size(), 4u);  // id, time, time_ms, kind
}

TEST(EventBus, TheRingKeepsTheLastEventsAndSinceResumes) {
  EventBus bus(3);
  for (int i = 0; i < 5; ++i) bus.publish("config.applied", "");
  EXPECT_EQ(bus.first_id(), 3u);
  EXPECT_EQ(bus.last_id(), 5u);
  std::vector<Event> from0 = bus.since(0, 100);  // 1 and 2 are gone
  ASSERT_EQ(from0.size(), 3u);
  EXPECT_EQ(from0.front().id, 3u);
  std::vector<Event> after3 = bus.since(3, 100);
  ASSERT_EQ(after3.size(), 2u);
  EXPECT_EQ(after3.front().id, 4u);
  EXPECT_TRUE(bus.since(5, 100).empty());
  EXPECT_TRUE(bus.since(99, 100).empty());
  EXPECT_EQ(bus.since(0, 1).size(), 1u);
  bus.set_capacity(1);
  EXPECT_EQ(bus.first_id(), 5u);
}

TEST(EventBus, ListenersSeeEachEventAndMayRemoveThemselves) {
  EventBus bus;
  std::vector<uint64_t> seen;
  uint64_t self = 0;
  self = bus.add_listener([&](const Event& e) {
    seen.push_back(e.id);
    if (e.id == 2) bus.remove_listener(self);
  });
  int other = 0;
  bus.add_listener([&](const Event&) { ++other; });
  for (int i = 0; i < 4; ++i) bus.publish("target.healthy", "");
  EXPECT_EQ(seen, (std::vector<uint64_t>{1, 2}));
  EXPECT_EQ(other, 4);
}

TEST(EventKinds, KnownKindsOnly) {
  EXPECT_TRUE(is_event_kind("breaker.half_open"));
  EXPECT_TRUE(is_event_kind("jwks.failing"));
  EXPECT_FALSE(is_event_kind("breaker"));
  EXPECT_FALSE(is_event_kind(""));
}

TEST(WebhookTarget, ListedKindsOrEvery) {
  WebhookTarget all;
  EXPECT_TRUE(all.wants("config.refused"));
  WebhookTarget some;
  some.kinds = {"breaker.opened"};
  EXPECT_TRUE(some.wants("breaker.opened"));
  EXPECT_FALSE(some.wants("breaker.closed"));
}

TEST(WebhookSender, AnUnreachableReceiverCostsDropsNotABlockedCaller) {
  WebhookSender sender;
  WebhookTarget t;
  t.url = "http://127.0.0.1:1/hook";
  t.host = "127.0.0.1";
  t.port = 1;  // nothing listens: connection refused
  t.retries = 1;
  sender.configure({t});
  EventBus bus;
  bus.add_listener([&](const Event& e) { sender.enqueue(e); });
  bus.publish("config.applied", "");
  EXPECT_TRUE(sender.flush(5000));
  EXPECT_EQ(sender.delivered(), 0u);
  EXPECT_EQ(sender.failed_attempts(), 2u);
  EXPECT_EQ(sender.dropped(), 1u);
}

}  // namespace
}  // namespace sluice::observe
