#include "limits/cluster_quota.h"

#include <gtest/gtest.h>

#include <deque>
#include <string>
#include <vector>

namespace sluice::limits {
namespace {

// Records evals; the test answers them by hand, like a store that replies later.
class FakeBackend : public QuotaBackend {
 public:
  struct Call {
    int script;
    std::string key;
    std::vector<int64_t> args;
    Done done;
    Ticket ticket;
    bool cancelled = false;
  };
  bool eval(int script, std::string_view key, std::span<const int64_t> args, Done done,
            Ticket* ticket) override {
    if (down) return false;
    *ticket = ++next;
    calls.push_back(
        Call{script, std::string(key), {args.begin(), args.end()}, std::move(done), *ticket});
    return true;
  }
  void cancel(Ticket ticket) override {
    for (Call& c : calls) {
      if (c.ticket == ticket) c.cancelled = true;
    }
  }
  int64_t want(size_t i = 0) const { return calls.at(i).args.at(2); }
  // Answers the oldest call.
  void answer(bool ok, int64_t granted, int64_t remaining, int64_t reset_ms, uint64_t now) {
    Call c = std::move(calls.front());
    calls.pop_front();
    ASSERT_FALSE(c.cancelled);
    c.done(LeaseReply{ok, granted, remaining, reset_ms, -1, -1, 0, now});
  }
  // A sliding window's answer: also the ms to the sub-window's end and the sub-window.
  void answer_sliding(int64_t granted, int64_t remaining, int64_t reset_ms, int64_t lease_ms,
                      int64_t slot, uint64_t now, int64_t retry_ms = 0) {
    Call c = std::move(calls.front());
    calls.pop_front();
    ASSERT_FALSE(c.cancelled);
    c.done(LeaseReply{true, granted, remaining, reset_ms, lease_ms, slot, retry_ms, now});
  }

  bool down = false;
  Ticket next = 0;
  std::deque<Call> calls;
};

struct Waiter : QuotaWaiter {
  void on_quota(const RateDecision& d) override {
    decisions.push_back(d);
    if (log != nullptr) log->push_back(id);
  }
  void on_quota_unavailable() override { ++unavailable; }
  std::vector<RateDecision> decisions;
  int unavailable = 0;
  int id = 0;
  std::vector<int>* log = nullptr;
};

const RateParams kFixed{RateAlgorithm::kFixedWindow, 1000, 10000, 0};  // lease 10

TEST(ClusterQuota, LeaseSize) {
  FakeBackend b;
  ClusterQuota q(b, {});
  EXPECT_EQ(q.lease_size(kFixed), 10u);
  EXPECT_EQ(q.lease_size({RateAlgorithm::kFixedWindow, 5, 1000, 0}), 1u);
  EXPECT_EQ(q.lease_size({RateAlgorithm::kFixedWindow, 1000000, 1000, 0}), 100u);
  ClusterQuotaOptions eo;
  eo.exact = true;
  ClusterQuota exact(b, eo);
  EXPECT_EQ(exact.lease_size(kFixed), 1u);
}

TEST(ClusterQuota, FirstRequestWaitsThenLeaseServesLocally) {
  FakeBackend b;
  Waiter w;
  ClusterQuotaOptions o;
  o.policy_id = "p";
  ClusterQuota q(b, o);
  RateDecision d;
  ASSERT_EQ(q.take("k", kFixed, 1000, &d, &w), QuotaResult::kWait);
  ASSERT_EQ(b.calls.size(), 1u);
  EXPECT_EQ(b.calls[0].script, static_cast<int>(RateAlgorithm::kFixedWindow));
  EXPECT_EQ(b.calls[0].key, "sluice:rl:p:k");
  EXPECT_EQ(b.calls[0].args, (std::vector<int64_t>{1000, 10000, 11, 0}));
  b.answer(true, 11, 989, 5000, 1010);
  ASSERT_EQ(w.decisions.size(), 1u);
  EXPECT_TRUE(w.decisions[0].allowed);
  EXPECT_EQ(w.decisions[0].remaining, 989u + 10u);
  EXPECT_EQ(w.decisions[0].reset_ms, 5000u);
  // 10 left: 5 taken locally without a fetch, the 6th leaves 4 < 5 and fetches in the background.
  for (int i = 0; i < 5; ++i) {
    ASSERT_EQ(q.take("k", kFixed, 1020, &d, nullptr), QuotaResult::kDecided);
    EXPECT_TRUE(d.allowed);
  }
  EXPECT_TRUE(b.calls.empty());
  ASSERT_EQ(q.take("k", kFixed, 1020, &d, nullptr), QuotaResult::kDecided);
  ASSERT_EQ(b.calls.size(), 1u);
  EXPECT_EQ(b.want(), 10);
  EXPECT_EQ(d.remaining, 989u + 4u);
  // The lease keeps serving while the fetch is in flight.
  for (int i = 0; i < 4; ++i)
    ASSERT_EQ(q.take("k", kFixed, 1030, &d, nullptr), QuotaResult::kDecided);
  EXPECT_EQ(b.calls.size(), 1u);
  b.answer(true, 10, 900, 4900, 1100);
  for (int i = 0; i < 10; ++i) {
    ASSERT_EQ(q.take("k", kFixed, 1100, &d, nullptr), QuotaResult::kDecided);
    EXPECT_TRUE(d.allowed);
  }
  EXPECT_EQ(q.stats().fetches, 2u + (b.calls.size()));
}

TEST(ClusterQuota, WindowChangeDiscardsLease) {
  FakeBackend b;
  Waiter w;
  Waiter w2;  // still waiting at the end: must outlive the quota
  ClusterQuota q(b, {});
  RateDecision d;
  ASSERT_EQ(q.take("k", kFixed, 0, &d, &w), QuotaResult::kWait);
  b.answer(true, 11, 0, 100, 0);  // window ends at 100
  ASSERT_EQ(q.take("k", kFixed, 50, &d, nullptr), QuotaResult::kDecided);
  EXPECT_TRUE(d.allowed);
  // At 100 the 9 units left belong to a past window: the next request must fetch.
  b.calls.clear();
  ASSERT_EQ(q.take("k", kFixed, 100, &d, &w2), QuotaResult::kWait);
  EXPECT_EQ(q.stats().discarded, 9u);
  EXPECT_EQ(b.calls.size(), 1u);
}

TEST(ClusterQuota, GrantFromNewWindowDropsOldLease) {
  FakeBackend b;
  Waiter w;
  ClusterQuota q(b, {});
  RateDecision d;
  ASSERT_EQ(q.take("k", kFixed, 0, &d, &w), QuotaResult::kWait);
  b.answer(true, 11, 0, 9000, 1000);                                   // window ends at 10000
  for (int i = 0; i < 6; ++i) q.take("k", kFixed, 9990, &d, nullptr);  // triggers a prefetch
  ASSERT_EQ(b.calls.size(), 1u);
  // The store answers from the next window (ends at 20000): the 4 old units go.
  b.answer(true, 10, 990, 9995, 9999);
  EXPECT_EQ(q.stats().discarded, 4u);
  int allowed = 0;
  while (q.take("k", kFixed, 10001, &d, nullptr) == QuotaResult::kDecided && d.allowed &&
         allowed < 100) {
    ++allowed;
    if (!b.calls.empty()) break;
  }
  EXPECT_LE(allowed, 10);
}

TEST(ClusterQuota, WaitersAnsweredInOrderAndExhaustionDeniesLocally) {
  FakeBackend b;
  Waiter w[5];
  Waiter late;
  ClusterQuota q(b, {});
  RateDecision d;
  std::vector<int> order;
  for (int i = 0; i < 5; ++i) {
    w[i].id = i;
    w[i].log = &order;
    ASSERT_EQ(q.take("k", kFixed, 0, &d, &w[i]), QuotaResult::kWait);
  }
  ASSERT_EQ(b.calls.size(), 1u);   // one fetch for all of them
  b.answer(true, 3, 0, 4000, 10);  // exhausted: only 3
  EXPECT_EQ(order, (std::vector<int>{0, 1, 2, 3, 4}));
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(w[i].decisions.at(0).allowed);
  for (int i = 3; i < 5; ++i) {
    EXPECT_FALSE(w[i].decisions.at(0).allowed);
    EXPECT_EQ(w[i].decisions[0].retry_after_ms, 4000u);
  }
  // Denied locally until the window ends, without asking the store.
  ASSERT_EQ(q.take("k", kFixed, 2000, &d, nullptr), QuotaResult::kDecided);
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.retry_after_ms, 2010u);
  EXPECT_TRUE(b.calls.empty());
  EXPECT_EQ(q.take("k", kFixed, 4010, &d, &late), QuotaResult::kWait);
}

TEST(ClusterQuota, MoreWaitersThanGrantFetchAgain) {
  FakeBackend b;
  Waiter w[3];
  Waiter again;
  ClusterQuotaOptions o;
  o.exact = true;
  ClusterQuota q(b, o);
  RateDecision d;
  for (auto& x : w) ASSERT_EQ(q.take("k", kFixed, 0, &d, &x), QuotaResult::kWait);
  ASSERT_EQ(b.calls.size(), 1u);
  EXPECT_EQ(b.want(), 1);  // exact: what the first request needs
  b.answer(true, 1, 999, 5000, 5);
  EXPECT_EQ(w[0].decisions.size(), 1u);
  ASSERT_EQ(b.calls.size(), 1u);
  EXPECT_EQ(b.want(), 2);  // the two still waiting share one round trip
  b.answer(true, 2, 997, 4990, 10);
  EXPECT_TRUE(w[1].decisions.at(0).allowed);
  EXPECT_TRUE(w[2].decisions.at(0).allowed);
  // exact: no lease kept, so the next request waits again.
  EXPECT_EQ(q.take("k", kFixed, 20, &d, &again), QuotaResult::kWait);
}

TEST(ClusterQuota, UnavailablePaths) {
  FakeBackend b;
  Waiter w1, w2;
  ClusterQuota q(b, {});
  RateDecision d;
  b.down = true;
  EXPECT_EQ(q.take("k", kFixed, 0, &d, &w1), QuotaResult::kUnavailable);
  EXPECT_FALSE(w1.waiting());
  b.down = false;
  ASSERT_EQ(q.take("k", kFixed, 0, &d, &w1), QuotaResult::kWait);
  ASSERT_EQ(q.take("k", kFixed, 0, &d, &w2), QuotaResult::kWait);
  b.answer(false, 0, 0, 0, 200);  // timeout
  EXPECT_EQ(w1.unavailable, 1);
  EXPECT_EQ(w2.unavailable, 1);
  EXPECT_EQ(q.stats().fetch_failures, 1u);
  // A held lease keeps working while the store is down.
  ASSERT_EQ(q.take("k", kFixed, 300, &d, &w1), QuotaResult::kWait);
  b.answer(true, 11, 500, 5000, 300);
  b.down = true;
  for (int i = 0; i < 10; ++i) {
    ASSERT_EQ(q.take("k", kFixed, 310, &d, nullptr), QuotaResult::kDecided);
    EXPECT_TRUE(d.allowed);
  }
  EXPECT_EQ(q.take("k", kFixed, 310, &d, &w2), QuotaResult::kUnavailable);
  EXPECT_EQ(q.take("k", kFixed, 310, &d, nullptr), QuotaResult::kUnavailable);
}

TEST(ClusterQuota, CancelledWaiterIsSkipped) {
  FakeBackend b;
  Waiter w[3];
  ClusterQuota q(b, {});
  RateDecision d;
  for (auto& x : w) ASSERT_EQ(q.take("k", kFixed, 0, &d, &x), QuotaResult::kWait);
  q.cancel(&w[1]);
  EXPECT_FALSE(w[1].waiting());
  q.cancel(&w[1]);  // twice is harmless
  b.answer(true, 13, 900, 5000, 5);
  EXPECT_EQ(w[0].decisions.size(), 1u);
  EXPECT_TRUE(w[1].decisions.empty());
  EXPECT_EQ(w[2].decisions.size(), 1u);
}

TEST(ClusterQuota, DestructionCancelsFetches) {
  FakeBackend b;
  Waiter w;
  {
    ClusterQuota q(b, {});
    RateDecision d;
    ASSERT_EQ(q.take("k", kFixed, 0, &d, &w), QuotaResult::kWait);
  }
  ASSERT_EQ(b.calls.size(), 1u);
  EXPECT_TRUE(b.calls[0].cancelled);
  EXPECT_FALSE(w.waiting());
}

TEST(ClusterQuota, KeysBoundedAndIdleDropped) {
  FakeBackend b;
  Waiter w[5];
  ClusterQuotaOptions o;
  o.max_keys = 3;
  o.idle_ms = 1000;
  ClusterQuota q(b, o);
  RateDecision d;
  for (int i = 0; i < 5; ++i) {
    ASSERT_EQ(q.take("k" + std::to_string(i), kFixed, 0, &d, &w[i]), QuotaResult::kWait);
    b.answer(true, 11, 900, 5000, 0);
    EXPECT_LE(q.size(), 3u);
  }
  EXPECT_EQ(q.size(), 3u);
  q.sweep(500);
  EXPECT_EQ(q.size(), 3u);
  q.sweep(1000);
  EXPECT_EQ(q.size(), 0u);
}

TEST(ClusterQuota, LimitZeroDeniesWithoutStore) {
  FakeBackend b;
  ClusterQuota q(b, {});
  RateDecision d;
  ASSERT_EQ(q.take("k", {RateAlgorithm::kFixedWindow, 0, 1000, 0}, 0, &d, nullptr),
            QuotaResult::kDecided);
  EXPECT_FALSE(d.allowed);
  EXPECT_TRUE(b.calls.empty());
}

TEST(ClusterQuota, BucketDeniesForOneUnit) {
  FakeBackend b;
  Waiter w;
  Waiter w2;
  ClusterQuota q(b, {});
  RateDecision d;
  const RateParams tb{RateAlgorithm::kTokenBucket, 10, 1000, 20};
  ASSERT_EQ(q.take("k", tb, 0, &d, &w), QuotaResult::kWait);
  EXPECT_EQ(b.calls[0].script, static_cast<int>(RateAlgorithm::kTokenBucket));
  EXPECT_EQ(b.calls[0].args[3], 20);
  b.answer(true, 0, 0, 2000, 0);
  EXPECT_FALSE(w.decisions.at(0).allowed);
  EXPECT_EQ(w.decisions[0].retry_after_ms, 100u);  // one token per 100 ms
  ASSERT_EQ(q.take("k", tb, 99, &d, nullptr), QuotaResult::kDecided);
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(q.take("k", tb, 100, &d, &w2), QuotaResult::kWait);
}

const RateParams kSliding{RateAlgorithm::kSlidingWindow, 1000, 4000, 0};  // lease 10, sub 250

TEST(ClusterQuota, SlidingLeaseBelongsToItsSubWindowAndUnusedUnitsGoBack) {
  FakeBackend b;
  Waiter w;
  ClusterQuotaOptions o;
  o.policy_id = "p";
  ClusterQuota q(b, o);
  RateDecision d;
  ASSERT_EQ(q.take("k", kSliding, 1000, &d, &w), QuotaResult::kWait);
  ASSERT_EQ(b.calls.size(), 1u);
  EXPECT_EQ(b.calls[0].script, static_cast<int>(RateAlgorithm::kSlidingWindow));
  ASSERT_EQ(b.calls[0].args.size(), 7u);
  EXPECT_EQ(b.calls[0].args[4], 250);  // sub-window length
  EXPECT_EQ(b.calls[0].args[5], 16);   // span
  EXPECT_EQ(b.calls[0].args[6], 62);   // a lease's longest life
  // Sent at 1000, answered at 1010; the lease may live 50 ms from when the store ran the script.
  b.answer_sliding(11, 989, 4100, 50, 77, 1010);
  ASSERT_EQ(w.decisions.size(), 1u);
  EXPECT_TRUE(w.decisions[0].allowed);
  for (int i = 0; i < 5; ++i) {
    ASSERT_EQ(q.take("k", kSliding, 1020 + i, &d, nullptr), QuotaResult::kDecided);
    EXPECT_TRUE(d.allowed);
  }
  // The lease ends 50 ms after the fetch was sent (not after the answer came): at 1050 its 5
  // units left go back to sub-window 77, and a new fetch is needed.
  b.calls.clear();
  EXPECT_EQ(q.take("k", kSliding, 1050, &d, &w), QuotaResult::kWait);
  ASSERT_EQ(b.calls.size(), 2u);
  EXPECT_EQ(b.calls[0].script, kRefundScript);
  EXPECT_EQ(b.calls[0].key, "sluice:rl:p:k");
  EXPECT_EQ(b.calls[0].args, (std::vector<int64_t>{77, 5}));
  EXPECT_EQ(b.calls[1].script, static_cast<int>(RateAlgorithm::kSlidingWindow));
  EXPECT_EQ(q.stats().refunded, 5u);
  EXPECT_EQ(q.stats().discarded, 5u);
}

TEST(ClusterQuota, SlidingExhaustedDeniesUntilRoomFrees) {
  FakeBackend b;
  Waiter w;
  ClusterQuota q(b, {});
  RateDecision d;
  ASSERT_EQ(q.take("k", kSliding, 1000, &d, &w), QuotaResult::kWait);
  b.answer_sliding(0, 0, 3000, 50, 80, 1002, 118);
  ASSERT_EQ(w.decisions.size(), 1u);
  EXPECT_FALSE(w.decisions[0].allowed);
  EXPECT_EQ(w.decisions[0].retry_after_ms, 118u);  // the store's 118 ms, from the answer
  ASSERT_EQ(q.take("k", kSliding, 1119, &d, nullptr), QuotaResult::kDecided);
  EXPECT_FALSE(d.allowed);
  Waiter w2;
  EXPECT_EQ(q.take("k", kSliding, 1120, &d, &w2), QuotaResult::kWait);  // asks the store again
  q.cancel(&w2);                                                        // w2 goes before q
}

TEST(ClusterQuota, SlidingGrantOfAnotherSubWindowRefundsTheOldLease) {
  FakeBackend b;
  Waiter w;
  ClusterQuota q(b, {});
  RateDecision d;
  ASSERT_EQ(q.take("k", kSliding, 1000, &d, &w), QuotaResult::kWait);
  b.answer_sliding(11, 989, 4100, 160, 5, 1001);  // one for the waiter, 10 left
  // Six more used: the lease falls below half, a refill is fetched in the background.
  for (int i = 0; i < 6; ++i) q.take("k", kSliding, 1100, &d, nullptr);
  ASSERT_EQ(b.calls.size(), 1u);
  // It is answered from the next sub-window: the 4 units left of sub-window 5 go back.
  b.answer_sliding(10, 976, 4100, 150, 6, 1170);
  ASSERT_EQ(b.calls.size(), 1u);
  EXPECT_EQ(b.calls[0].script, kRefundScript);
  EXPECT_EQ(b.calls[0].args, (std::vector<int64_t>{5, 4}));
  // The new lease holds 10 and ends 150 ms after the refill was sent (at 1100).
  for (int i = 0; i < 10; ++i) {
    ASSERT_EQ(q.take("k", kSliding, 1240, &d, nullptr), QuotaResult::kDecided);
    EXPECT_TRUE(d.allowed);
  }
}

TEST(ClusterQuota, SlidingReplyAfterItsSubWindowIsNotUsed) {
  FakeBackend b;
  Waiter w;
  ClusterQuota q(b, {});
  RateDecision d;
  ASSERT_EQ(q.take("k", kSliding, 1000, &d, &w), QuotaResult::kWait);
  b.answer_sliding(11, 989, 4100, 5, 9, 1010);  // the sub-window ended at 1005
  EXPECT_TRUE(w.decisions.empty());
  ASSERT_EQ(b.calls.size(), 2u);
  EXPECT_EQ(b.calls[0].script, kRefundScript);
  EXPECT_EQ(b.calls[0].args, (std::vector<int64_t>{9, 11}));
  EXPECT_EQ(b.calls[1].script, static_cast<int>(RateAlgorithm::kSlidingWindow));  // again
}

}  // namespace
}  // namespace sluice::limits
