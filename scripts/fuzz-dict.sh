#!/usr/bin/env bash
# Regenerates fuzz/config.dict (the libFuzzer dictionary of config_fuzz, config_schema_fuzz and
# filter_chain_fuzz) from the schema tables of fuzz/config_schema.h. Run after editing them.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 - <<'PY'
import re
s=open('fuzz/config_schema.h').read()
sections=re.search(r'kSections = R"\((.*?)\)"',s,re.S).group(1)
keys=set(re.findall(r'!?([a-z_]+)=[A-Z]:',sections))
pools=re.search(r'kPools = R"\((.*?)\)"',s,re.S).group(1)
vals=set()
for line in pools.split('\n'):
    if not line.strip(): continue
    if not line.startswith(' '): line=line.split(':',1)[1]
    for v in line.split('|'):
        v=v.strip()
        if v and v!="''" and len(v)<40 and '\\' not in v and '"' not in v: vals.add(v)
def esc(t): return t.replace('\\','\\\\').replace('"','\\"')
out=['# Keys and values of the config schema, generated from fuzz/config_schema.h (docs/fuzzing.md).']
for k in sorted(keys): out.append('"%s:"' % esc(k))
for v in sorted(vals): out.append('"%s"' % esc(v))
for t in ['- ','{','}','[',']',': ','"','~','&a','*a']: out.append('"%s"' % esc(t))
out += ['"\\x0a  "', '"\\x0a- "']
open('fuzz/config.dict','w').write('\n'.join(out)+'\n')
PY
