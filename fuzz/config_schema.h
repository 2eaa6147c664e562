// The config schema as config_schema_fuzz.cc mutates it: every section of the YAML config with
// its keys (taken from the map() / filter_map() key lists of src/config/parse_*.cc and
// src/filters/*, and from docs/configuration.md) and, per key, the kind of value it takes and
// a pool of values of that kind: valid ones, boundary ones and near misses.
// scripts/fuzz-common.sh (fuzz_schema_check) warns when a key of the sources is missing here.
//
// The tables are text, parsed once at start-up (parse_schema() aborts on a dangling name):
//   section[<base,base]: field field ...   a section; bases add their fields
//   field = [!]key=KIND:ref[:ref2]         '!' marks a required key
//   KIND  S  scalar from pool ref          O  list of pool ref, or one of them
//         L  list of pool ref              M  map of section ref
//         Q  list of maps of section ref (or, given ref2, sometimes a map of section ref2)
//         X  map of section ref, or a scalar of pool ref2
//         F  map: keys of pool ref -> scalars of pool ref2
//         H  map: keys of pool ref -> lists of pool ref2
//         G  map: keys of pool ref -> maps of section ref2
//   pool: value | value | ...              "~" is null; '@name' pools are the names defined
//                                          in the document under that section (see below)
#pragma once

#include <cstdlib>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::fuzz {

inline constexpr std::string_view kSections = R"(
root: workers=S:workers dns=M:dns !listeners=Q:listener admin=M:admin limits=M:limits
  timeouts=M:timeouts upstreams=Q:upstream routes=Q:route metrics=M:metrics tracing=M:tracing
  access_log=M:access_log redis=M:redis client_ip=M:client_ip consumers=Q:consumer
  jwt_providers=Q:jwt_provider security=X:security:off filters=M:filters
dns: servers=L:ip timeout=S:duration
listener: !address=S:listen_addr tls=M:ltls max_connections=S:int
ltls: !certificates=Q:lcert min_version=S:min_version ciphers=S:ciphers
  ciphersuites=S:ciphersuites alpn=L:alpn client_ca=S:pem_cert require_client_cert=S:bool
lcert: !cert=S:pem_cert !key=S:pem_key server_names=L:server_name
admin: !address=S:listen_addr
limits: max_header_bytes=S:size max_headers=S:int max_uri_bytes=S:size max_body_bytes=S:size
  headers_with_underscores=S:underscores max_connections_per_client=S:int memory_budget=S:size
timeouts: client_header=S:duration client_body=S:duration client_send=S:duration
  idle=S:duration upstream_connect=S:duration upstream_response=S:duration drain=S:duration
upstream: !name=S:name !targets=Q:target connect_timeout=S:duration response_timeout=S:duration
  idle_timeout=S:duration max_idle_per_worker=S:int balancer=S:balancer hash_key=S:hash_key
  sticky=M:sticky health_check=M:health outlier=X:outlier:off breaker=M:breaker
  dns_refresh=S:duration retry_budget=M:retry_budget tls=M:utls
target: !address=S:target_addr weight=S:int
utls: ca_file=S:pem_cert server_name=S:host verify=S:bool
sticky: cookie=S:token !secret=S:secret max_age=S:seconds
health: path=S:health_path host=S:host interval=S:duration timeout=S:duration
  healthy_threshold=S:int unhealthy_threshold=S:int expected_statuses=O:status_range
outlier: enabled=S:bool consecutive_failures=S:int base_ejection=S:duration
  max_ejection=S:duration max_ejection_percent=S:percent uneject_on_health_check=S:bool
breaker: error_rate=S:percent min_requests=S:int window=S:duration consecutive_failures=S:int
  open=S:duration half_open_requests=S:int per_target=S:bool max_connections=S:int
  max_pending=S:int max_requests=S:int
retry_budget: percent=S:percent min_concurrent=S:int
route: !name=S:name !match=M:match priority=S:int upstream=S:@upstream respond=M:respond
  strip_prefix=S:path rewrite_prefix=S:path max_body_bytes=S:size timeout=S:duration
  retry=M:retry rate_limits=Q:rate_limit security=X:security:off filters=M:filters
  mock=M:f_mock mirror=M:mirror
match: !path=S:pattern methods=O:method host=S:host headers=F:header_name:header_value
  priority=S:int
respond: status=S:status body=S:body headers=F:header_name:header_value
retry: attempts=S:int on=O:retry_on per_try_timeout=S:duration backoff=X:backoff:duration
backoff: base=S:duration max=S:duration
rate_limit: !name=S:name key=S:rl_key algorithm=S:rl_algorithm !limit=S:int period=S:duration
  burst=S:int scope=S:scope exact=S:bool max_keys=S:int
mirror: !upstream=S:@upstream percent=S:percent max_body=S:size timeout=S:duration
  max_in_flight=S:int
metrics: enabled=S:bool
tracing: !endpoint=S:url sample_ratio=S:ratio always_sample_errors=S:bool respect_parent=S:bool
  service_name=S:text flush_interval=S:duration max_batch=S:int queue_size=S:int
  timeout=S:duration headers=F:header_name:header_value
access_log: !path=S:log_path format=S:log_format buffer_size=S:size
redis: !address=S:redis_addr password=S:text db=S:int connect_timeout=S:duration
  command_timeout=S:duration on_error=S:on_error key_prefix=S:text
client_ip: trusted_proxies=O:cidr
consumer: !name=S:name api_keys=O:api_key_hash hmac_keys=Q:hmac_key cert_subjects=O:subject
  roles=O:role
hmac_key: !key_id=S:key_id secret=S:secret secret_file=S:secret_file
jwt_provider: !name=S:name issuer=S:text issuers=O:text audience=S:text audiences=O:text
  algorithms=O:jwt_alg jwks_url=S:jwks_url jwks_ca_file=S:pem_cert jwks_refresh=S:duration
  jwks_min_refresh=S:duration keys=Q:jwt_key clock_skew=S:seconds require_exp=S:bool
  required_claims=O:claim roles_claim=S:claim from=O:token_source
  forward_claims=F:header_name:claim
jwt_key: pem_file=S:pem_pub secret=S:secret kid=S:key_id alg=S:jwt_alg
security: auth=X:auth:off ip_rules=X:ip_rules:off cors=X:cors:off headers=X:sec_headers:off
auth: jwt=O:@provider api_key=X:api_key:bool hmac=X:hmac:bool client_cert=S:bool roles=O:role
  method_roles=H:method:role optional=S:bool
api_key: header=S:header_name query=S:query_name
hmac: window=S:seconds max_body=S:size
rbac: roles=O:role method_roles=H:method:role
ip_rules: allow=O:cidr deny=O:cidr
cors: !origins=O:origin methods=O:cors_method headers=O:cors_header expose=O:cors_header
  credentials=S:bool max_age=S:seconds
sec_headers: hsts=M:hsts nosniff=S:bool frame_options=S:frame_options
  referrer_policy=S:referrer_policy content_security_policy=S:policy
  permissions_policy=S:policy server=S:server_header
hsts: max_age=S:seconds include_subdomains=S:bool preload=S:bool
filters: ip_rules=X:f_ip_rules:off mock=X:f_mock:off path_rewrite=X:f_path_rewrite:off
  query=X:f_query:off request_headers=X:f_headers:off response_headers=X:f_headers:off
  request_body=X:f_body:off response_body=X:f_body:off fault=X:f_fault:off auth=X:f_auth:off
  rbac=X:f_rbac:off cors=X:f_cors:off security_headers=X:f_sec_headers:off
  rate_limit=Q:rate_limit:rl_map respond=M:respond
rl_map: policies=Q:rate_limit
common: when=M:when timeout=S:duration on_timeout=S:on_timeout
when: methods=O:method headers=F:header_name:when_value path_prefix=S:path
f_ip_rules<ip_rules,common:
f_auth<auth,common:
f_rbac<rbac,common:
f_cors<cors,common:
f_sec_headers<sec_headers,common:
answer: status=S:status headers=F:header_name:header_value body=S:body file=S:mock_file
  delay=S:duration
f_mock<answer,common: examples=G:example_name:answer example_from=S:example_from
f_path_rewrite<common: regex=S:regex prefix=S:path !to=S:rewrite_to
f_query<common: set=F:query_name:header_value add=F:query_name:header_value
  remove=O:query_name
f_headers<common: set=F:header_name:header_value add=F:header_name:header_value
  remove=O:header_name
f_body<common: json=M:json_edit convert=S:convert max_bytes=S:size xml_root=S:xml_root
json_edit: set=F:pointer:json_value remove=O:pointer rename=F:pointer:pointer
f_fault<common: delay=S:duration delay_percent=S:percent abort=S:status abort_percent=S:percent
  response_delay=S:duration response_delay_percent=S:percent
)";

// Files named by pem_* / secret_file / mock_file live in kFilesDir, written at start-up by
// config_schema_fuzz.cc (a self-signed P-256 certificate and its key, another key, the public
// key, a secret and a mock body), so that the TLS, JWT key and mock paths load real files.
inline constexpr std::string_view kFilesDir = "/tmp/sluice-fuzz-files";

inline constexpr std::string_view kPools = R"(
workers: 0 | 1 | 2 | 256 | 257 | -1
int: 0 | 1 | 2 | 3 | -1 | 10 | 100 | 1000 | 10000 | 10001 | 65535 | 65536 | 1000000 | 1000000000
  | 1000000001 | 1099511627776 | 1099511627777 | 2147483648 | 9223372036854775807
  | 9223372036854775808 | +3 | 1_000 | 0x10 | 1.5 | abc
duration: 0 | 1 | 10ms | 100ms | 99ms | 250ms | 1s | 2s | 5s | 10s | 30s | 60s | 61s | 5m | 1h
  | 365d | 1500 | 1500ms | 1m30s | 10 s | 1.5s | -1s | 1S | 0ms | 18446744073709551615ms
  | 213503982335d | 99999999999999999999
seconds: 0 | 0s | 1s | 60s | 300s | 600s | 10m | 1h | 365d | 1500ms | 3600 | 18446744073709551s
size: 0 | 1 | 512 | 1KiB | 4KiB | 4095 | 64KiB | 256KiB | 1MiB | 16MiB | 16777217 | 1GiB | 2GiB
  | 512KB | 1MB | 1GB | 64kib | 1.5MiB | 18446744073709551615 | 99999999999GiB | -1
bool: true | false | yes | no | on | off | True | 1 | maybe
off: off | false | true | on
ratio: 0 | 0.01 | 1% | 0.5 | 50% | 1 | 100% | 1.5 | 150% | -0.1 | 1e-3 | .5 | 0.0001%
percent: 0 | 1 | 20 | 20% | 50 | 50% | 100 | 100% | 101 | -1 | 0.5 | %
status: 100 | 199 | 200 | 204 | 304 | 404 | 418 | 503 | 504 | 599 | 600 | 99 | abc | 2xx
status_range: 200-299 | 200-399 | 304 | 300-200 | 100-599 | 99-600 | 5xx | 200- | 500-599
listen_addr: 127.0.0.1:8080 | 127.0.0.1:8081 | *:8080 | :8080 | localhost:8080 | [::1]:8080
  | [::]:8080 | 0.0.0.0:0 | 127.0.0.1:65536 | api.internal:80 | 127.0.0.1 | [::1 | 1.2.3:80
  | 999.1.1.1:80 | 127.0.0.1:9090
target_addr: 127.0.0.1:9001 | 127.0.0.1:9002 | [::1]:9001 | localhost:9001 | backend.internal:9000
  | Api.Test:80 | 10.0.0.1:65535 | 127.0.0.1:0 | host_:80 | [fe80::1%eth0]:80 | :9001
ip: 127.0.0.1 | 127.0.0.1:5353 | [::1]:53 | 10.0.0.2 | ::1 | localhost | 8.8.8.8:0 | 1.2.3.4.5
cidr: 10.0.0.0/8 | 127.0.0.0/8 | 192.0.2.0/24 | 192.0.2.1 | 2001:db8::/32 | ::1 | 0.0.0.0/0 | ::/0
  | ::ffff:10.0.0.0/104 | 10.0.0.0/33 | 1.2.3.4/-1 | fe80::/10 | not-an-ip | 10.0.0.1/32 | 10.0.0.1/
name: backend | users | api | echo-1 | api.v2 | r | r2 | a_b | bad name | x/y | caf\xc3\xa9 | -
pattern: / | /{*rest} | /u/{id} | /api/users/{id} | /a/{x}/{x} | /a/{x}/b | /static/{*path}
  | /{a}{b} | /bad{ | no-slash | /a//b | /%41 | /x/{*rest}/y | /u/{id}/{*rest} | /{}
method: GET | POST | PUT | DELETE | HEAD | PATCH | OPTIONS | get | CONNECT | TRACE | FOO | G T
host: api.example.com | *.example.com | a.test | *.test | example.com:8080 | Bad_Host | *. | a..b
header_name: x-a | x-b | x-id | X-Beta | content-type | host | content-length | transfer-encoding
  | authorization | x-forwarded-for | cookie | te | x-request-id | bad name | x:y
header_value: v | ${path.id} | ${client_ip} | ${route} | ${status} | ${header.x-a} | ${query.q}
  | ${jwt.sub} | ${consumer} | ${nope} | ${ | $$ | a\tb | line\nbreak | ${upstream_addr}
  | ${request_id} | ${method} | ${path} | ${path.nope} | ${header.} | ~
when_value: ~ | on | v | 1
path: /api | /v2 | / | /old | /new | no-slash | /a b | /a?x | /only/a
health_path: /healthz | /status?x=1 | / | /a b | /a#b | healthz
body: ok | '' | {"id": "${path.id}"} | ${nope} | hello ${method} | $$5
mock_file: /tmp/sluice-fuzz-files/mock.json | /tmp/sluice-fuzz-files | /nonexistent/mock.json | ''
pem_cert: /tmp/sluice-fuzz-files/cert.pem | /tmp/sluice-fuzz-files/key.pem | /nonexistent/x.pem
  | /tmp/sluice-fuzz-files | ''
pem_key: /tmp/sluice-fuzz-files/key.pem | /tmp/sluice-fuzz-files/other.key
  | /tmp/sluice-fuzz-files/cert.pem | /nonexistent/x.key
pem_pub: /tmp/sluice-fuzz-files/pub.pem | /tmp/sluice-fuzz-files/cert.pem
  | /tmp/sluice-fuzz-files/key.pem | /tmp/sluice-fuzz-files/mock.json | /nonexistent/x.pem
secret_file: /tmp/sluice-fuzz-files/secret.txt | /tmp/sluice-fuzz-files/mock.json
  | /nonexistent/secret | /tmp/sluice-fuzz-files
balancer: round_robin | weighted_round_robin | least_connections | p2c | consistent_hash | random
  | maglev | round-robin
hash_key: client_ip | path | header:x-user | cookie:sid | query:user | header: | header:bad name
  | query:a&b | cookie: | route
token: sluice_sticky | sid | bad name | a;b
secret: 0123456789abcdef0123456789abcdef | 0123456789abcdef | short | ''
token_source: bearer | header:x-token | cookie:session | query:token | header: | foo:bar | Bearer
rl_key: client_ip | route | consumer | header:x-api-key | query:user | header: | jwt:sub
rl_algorithm: token_bucket | sliding_window | fixed_window | leaky_bucket
scope: local | cluster | global
on_error: allow | deny | open
underscores: allow | drop | reject | keep
min_version: '1.2' | '1.3' | '1.1' | 1.2 | 1.3
ciphers: ECDHE+AESGCM:ECDHE+CHACHA20 | HIGH | nonsense | ''
ciphersuites: TLS_AES_128_GCM_SHA256 | TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256
  | TLS_NOPE | ''
alpn: http/1.1 | h2 | ''
server_name: fuzz.test | *.example.com | '' | *.*.x | a.test
url: http://127.0.0.1:4318 | http://127.0.0.1:4318/v1/traces | https://c.test:4318 | ftp://x
  | http:// | http://[::1]:4318/p | http://h:99999 | localhost:4318
jwks_url: http://127.0.0.1:9999/jwks | https://idp.test/.well-known/jwks.json | http:// | ftp://x
  | https://[::1]:443/k | http://idp.test:0/
redis_addr: 127.0.0.1:6379 | localhost:6379 | redis.internal:6379 | [::1]:6379 | 127.0.0.1
log_path: - | /dev/null | '' | /nonexistent/dir/access.log
log_format: json | '' | $client "$method $path" $status | ${time_iso} ${request_id}
  | $nope | $ | ${unterminated | $$ $status | $duration_ms ms | a\nb | ${time} $upstream_connect_ms
text: sluice | '' | x | sluice:rl: | a b | https://idp.test | api
api_key_hash: sha256:2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae
  | SHA256:2C26B46B68FFC68FF99B453C1D30413413422D706483BFA0F98A5E886266E7AE | sha256:short
  | plaintext-key
key_id: k1 | k2 | '' | bad id | kid.1
subject: CN=client,O=Test | '' | CN=a\nb
role: admin | reader | writer | bad role | ''
jwt_alg: HS256 | RS256 | ES256 | ES384 | ES512 | EdDSA | PS256 | none | NONE | HS999
claim: sub | roles | tenant | ''
query_name: q | version | debug | a&b | 'a b' | '' | x=y
origin: https://app.test | '*' | https://*.example.com | http://localhost:3000 | '' | https://a.test/
  | null | https://*.com
cors_method: GET | POST | '*' | get | BAD METHOD
cors_header: content-type | x-a | '*' | bad header
frame_options: DENY | SAMEORIGIN | deny | ALLOW-FROM
referrer_policy: no-referrer | strict-origin-when-cross-origin | no-referrer, origin | unknown | ''
policy: default-src 'self' | '' | ' leading' | geolocation=()
server_header: hide | sluice | ''
retry_on: connect_failure | reset | timeout | 502 | 503 | 504 | 500 | 404 | 5xx
on_timeout: continue | 503 | 504 | 200 | 199 | 600 | respond
example_name: missing | teapot | e | bad name | ''
example_from: header:x-mock-example | query:example | header: | cookie:x
regex: ^/u/([0-9]+)$ | ^/api(.*)$ | ( | (a)(b)(c)(d)(e)(f)(g)(h)(i)(j) | .* | '' | [[:alpha:]]+
  | (?P<n>x) | \C
rewrite_to: /v2/$1 | /new | / | $2 | /a$$b | no-slash | /a b | /x?y | /$0 | /$9 | /${path.id}
convert: json_to_xml | xml_to_json | json
xml_root: root | request | '' | 1bad | a:b
pointer: /a | /a/b | /meta/source | /list/- | /password | '' | a | /a~1b | /a~2 | /items/0
json_value: 1 | x | ${request_id} | '' | {"a":1} | [1,2] | 'true' | null | '"42"' | ~
)";

// Kinds of a field, as in the table above.
enum class Kind : char {
  kScalar = 'S',
  kOne = 'O',
  kList = 'L',
  kMap = 'M',
  kSeq = 'Q',
  kMapOrScalar = 'X',
  kFree = 'F',
  kFreeLists = 'H',
  kFreeMaps = 'G',
};

struct Field {
  std::string key;
  Kind kind = Kind::kScalar;
  std::string ref;   // pool (S O L), section (M Q X), key pool (F H G)
  std::string ref2;  // pool (X F H), section (G, and Q's other form)
  bool required = false;
};

struct Section {
  std::vector<Field> fields;
  const Field* find(std::string_view key) const {
    for (const Field& f : fields) {
      if (f.key == key) return &f;
    }
    return nullptr;
  }
};

struct Schema {
  std::map<std::string, Section, std::less<>> sections;
  std::map<std::string, std::vector<std::string>, std::less<>> pools;
};

namespace schema_detail {

inline std::vector<std::string> split(std::string_view s, char sep) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos <= s.size()) {
    size_t end = s.find(sep, pos);
    if (end == std::string_view::npos) end = s.size();
    out.emplace_back(s.substr(pos, end - pos));
    pos = end + 1;
  }
  return out;
}

inline std::string trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\n')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\n')) s.remove_suffix(1);
  return std::string(s);
}

// "\n" and "\t" in a pool value stand for the control bytes; '' is the empty string.
inline std::string unescape(std::string v) {
  if (v == "''") return "";
  std::string out;
  for (size_t i = 0; i < v.size(); ++i) {
    if (v[i] == '\\' && i + 1 < v.size() && (v[i + 1] == 'n' || v[i + 1] == 't')) {
      out.push_back(v[i + 1] == 'n' ? '\n' : '\t');
      ++i;
    } else if (v[i] == '\\' && i + 3 < v.size() && v[i + 1] == 'x') {
      out.push_back(static_cast<char>(std::stoi(v.substr(i + 2, 2), nullptr, 16)));
      i += 3;
    } else {
      out.push_back(v[i]);
    }
  }
  return out;
}

// Logical lines: a line that starts with a space continues the one before.
inline std::vector<std::string> logical_lines(std::string_view text) {
  std::vector<std::string> lines;
  for (const std::string& raw : split(text, '\n')) {
    if (raw.empty()) continue;
    if (raw[0] == ' ' && !lines.empty()) {
      lines.back() += raw;
    } else {
      lines.push_back(raw);
    }
  }
  return lines;
}

}  // namespace schema_detail

inline Schema parse_schema() {
  using namespace schema_detail;
  Schema s;
  for (const std::string& line : logical_lines(kPools)) {
    const size_t colon = line.find(':');
    std::vector<std::string>& pool = s.pools[line.substr(0, colon)];
    for (const std::string& v : split(std::string_view(line).substr(colon + 1), '|')) {
      pool.push_back(unescape(trim(v)));
    }
  }
  std::vector<std::pair<std::string, std::vector<std::string>>> bases;
  for (const std::string& line : logical_lines(kSections)) {
    const size_t colon = line.find(": ") != std::string::npos ? line.find(": ") : line.find(':');
    std::string head = line.substr(0, colon);
    std::vector<std::string> base_names;
    if (const size_t lt = head.find('<'); lt != std::string::npos) {
      base_names = split(std::string_view(head).substr(lt + 1), ',');
      head.resize(lt);
    }
    Section& sec = s.sections[head];
    for (const std::string& word : split(std::string_view(line).substr(colon + 1), ' ')) {
      if (word.empty()) continue;
      Field f;
      std::string_view w = word;
      if (w[0] == '!') {
        f.required = true;
        w.remove_prefix(1);
      }
      const size_t eq = w.find('=');
      f.key = std::string(w.substr(0, eq));
      const std::vector<std::string> parts = split(w.substr(eq + 1), ':');
      f.kind = static_cast<Kind>(parts.at(0).at(0));
      f.ref = parts.at(1);
      if (parts.size() > 2) f.ref2 = parts[2];
      sec.fields.push_back(std::move(f));
    }
    if (!base_names.empty()) bases.emplace_back(head, base_names);
  }
  for (const auto& [name, base_names] : bases) {  // bases are defined above their users
    for (const std::string& b : base_names) {
      const Section& base = s.sections.at(b);
      Section& sec = s.sections.at(name);
      sec.fields.insert(sec.fields.begin(), base.fields.begin(), base.fields.end());
    }
  }
  auto pool_ok = [&](const std::string& p) { return p[0] == '@' || s.pools.count(p) != 0; };
  for (const auto& [name, sec] : s.sections) {
    for (const Field& f : sec.fields) {
      bool ok = true;
      switch (f.kind) {
        case Kind::kScalar:
        case Kind::kOne:
        case Kind::kList:
          ok = pool_ok(f.ref);
          break;
        case Kind::kMap:
          ok = s.sections.count(f.ref) != 0;
          break;
        case Kind::kSeq:
          ok = s.sections.count(f.ref) != 0 && (f.ref2.empty() || s.sections.count(f.ref2) != 0);
          break;
        case Kind::kMapOrScalar:
          ok = s.sections.count(f.ref) != 0 && pool_ok(f.ref2);
          break;
        case Kind::kFree:
        case Kind::kFreeLists:
          ok = pool_ok(f.ref) && pool_ok(f.ref2);
          break;
        case Kind::kFreeMaps:
          ok = pool_ok(f.ref) && s.sections.count(f.ref2) != 0;
          break;
      }
      if (!ok) abort();  // a typo in the tables above
    }
  }
  return s;
}

}  // namespace sluice::fuzz
