# Python model of BuildKit's ${v#p} ${v%p} ${v/p/r} (Go regexp via Python re), vs drv-shell.
import re, random, subprocess, sys
def conv(pat, greedy, anchored):
    out = '^' if anchored else ''
    star = '.*' if greedy else '.*?'
    i = 0
    while i < len(pat):
        t = pat[i]; i += 1
        if t == '*': out += star; continue
        if t == '?': out += '.'; continue
        if t == '\\':
            if i < len(pat) and pat[i] in '}/': continue
            if i >= len(pat) or pat[i] not in '*?\\': return None
            out += '\\' + pat[i]; i += 1; continue
        out += re.escape(t)
    return re.compile(out)
def revpat(p):
    out = [''] * len(p); last = len(p) - 1; i = 0
    while i <= last:
        oi = last - i
        if p[i] == '\\' and i != last:
            out[oi - 1] = '\\'; out[oi] = p[i + 1]; i += 2
        else:
            out[oi] = p[i]; i += 1
    return ''.join(out)
def trimprefix(p, v, greedy):
    rx = conv(p, greedy, True)
    if rx is None: return None
    m = rx.search(v)
    return v[m.end():] if m else v
def trimsuffix(p, v, greedy):
    r = trimprefix(revpat(p), v[::-1], greedy)
    return None if r is None else r[::-1]
def goexpand(t, match):
    out = ''; i = 0
    while True:
        j = t.find('$', i)
        if j < 0: return out + t[i:]
        out += t[i:j]; t2 = t[j+1:]
        if t2.startswith('$'): out += '$'; i = j + 2; continue
        brace = t2.startswith('{')
        k = 1 if brace else 0
        e = k
        while e < len(t2) and (t2[e].isascii() and (t2[e].isalnum() or t2[e] == '_')): e += 1
        if e == k or (brace and (e >= len(t2) or t2[e] != '}')):
            out += '$'; i = j + 1; continue
        name = t2[k:e]
        if name.isdigit() and int(name) == 0: out += match
        i = j + 1 + e + (1 if brace else 0)
def replace(p, v, r, all_):
    rx = conv(p, True, False)
    if rx is None: return None
    if not all_:
        m = rx.search(v)
        return v[:m.start()] + r + v[m.end():] if m else v
    out = ''; last = 0; pos = 0
    while pos <= len(v):
        m = rx.search(v, pos)
        if not m: break
        a, b = m.start(), m.end()
        out += v[last:a]
        if b > last or a == 0: out += goexpand(r, v[a:b])
        last = b
        if pos + 1 > b: pos += 1
        else: pos = b
    return out + v[last:]
random.seed(int(sys.argv[1]))
alpha = 'ab*?\\/}$0\n.x'
valpha = 'ab*?\\/}$x\n.'
cases = []
for _ in range(20000):
    p = ''.join(random.choice(alpha) for _ in range(random.randint(0, 5)))
    v = ''.join(random.choice(valpha) for _ in range(random.randint(0, 8)))
    r = ''.join(random.choice('ab$0{}') for _ in range(random.randint(0, 3)))
    op = random.choice(['#', '##', '%', '%%', '/', '//'])
    word = '${V' + op + '$P' + ('/$R}' if op in ('/', '//') else '}')
    if op == '#': want = trimprefix(p, v, False)
    elif op == '##': want = trimprefix(p, v, True)
    elif op == '%': want = trimsuffix(p, v, False)
    elif op == '%%': want = trimsuffix(p, v, True)
    else: want = replace(p, v, r, op == '//')
    cases.append((word, p, v, r, want))
inp = ''.join(' '.join('h' + x.encode().hex() for x in (w, v, p, r)) + '\n' for w, p, v, r, _ in cases)
out = subprocess.run([sys.argv[2]], input=inp.encode(), capture_output=True).stdout.decode().split('\n')
bad = 0; errs = 0
for (w, p, v, r, want), o in zip(cases, out):
    got = None if o == 'E' else bytes.fromhex(o).decode()
    if got is None: errs += 1
    if got != want:
        bad += 1
        if bad < 15: print('MISMATCH', repr(w), 'P=', repr(p), 'V=', repr(v), 'R=', repr(r), 'got', repr(got), 'want', repr(want))
print('cases', len(cases), 'errors', errs, 'bad', bad)
