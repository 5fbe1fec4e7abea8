"""perrep.py DIR: per repetition, the durable and memory-speed P16 SET/GET ratios (ringkv / Redis)"""
import sys, json, re, os
d = os.path.join(sys.argv[1], 'out')
def rb(name, op):
    t = open(os.path.join(d, name + '.txt')).read()
    return float(re.search(op + r': ([\d.]+) requests', t).group(1))
def lg(name):
    return json.load(open(os.path.join(d, name + '.json')))['ops_per_sec']
for r in (1, 2, 3):
    row = []
    for redis, rk in (('redis-aof', 'rk-always-s1'), ('redis-mem', 'rk-none-s1')):
        for op in ('SET', 'GET'):
            row.append(f"{rk[3:9]} rb {op} {rb(f'{rk}_rb-P16_r{r}', op) / rb(f'{redis}_rb-P16_r{r}', op):.2f}")
        for op in ('set', 'get'):
            base = lg(f'{redis}_lg-resp-{op}-P16_r{r}')
            row.append(f"{rk[3:9]} lg {op} {lg(f'{rk}_lg-resp-{op}-P16_r{r}') / base:.2f}/{lg(f'{rk}_lg-native-{op}-P16_r{r}') / base:.2f}")
    print(f"r{r}: " + ' | '.join(row))
