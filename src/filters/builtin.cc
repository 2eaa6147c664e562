// See builtin.h.
#include "filters/builtin.h"

#include "filters/body/body_filter.h"
#include "filters/fault/fault_filter.h"
#include "filters/headers/headers_filter.h"
#include "filters/ip_rules/ip_rules_filter.h"
#include "filters/mock/mock_filter.h"
#include "filters/path_rewrite/path_rewrite_filter.h"
#include "filters/query/query_filter.h"

namespace sluice::filters {

std::span<const filter::Factory> builtin_factories() {
  static const filter::Factory kAll[] = {
      kIpRulesFactory,     kMockFactory,           kPathRewriteFactory,
      kQueryFactory,       kRequestHeadersFactory, kResponseHeadersFactory,
      kRequestBodyFactory, kResponseBodyFactory,   kFaultFactory,
  };
  return kAll;
}

}  // namespace sluice::filters
