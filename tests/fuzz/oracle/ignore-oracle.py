# Python model of Docker's .dockerignore matching (moby/patternmatcher regexps), vs drv-ignore.
import re, random, subprocess, sys
def clean(p):
    if p == '': return '.'
    rooted = p.startswith('/')
    parts = []
    for e in p.split('/'):
        if e in ('', '.'): continue
        if e == '..':
            if parts and parts[-1] != '..': parts.pop()
            elif not rooted: parts.append('..')
            continue
        parts.append(e)
    s = '/'.join(parts)
    if rooted: s = '/' + s
    return s or '.'
def compile(p):
    reg='^'; typ='exact'; i=0; k=0
    while k < len(p):
        ch=p[k]; k+=1
        if ch=='*':
            if k<len(p) and p[k]=='*':
                k+=1
                if k<len(p) and p[k]=='/': k+=1
                if k>=len(p):
                    if typ=='exact': typ='prefix'
                    else: reg+='.*'; typ='regex'
                else: reg+='(.*/)?'; typ='regex'
                if i==0: typ='suffix'
            else: reg+='[^/]*'; typ='regex'
        elif ch=='?': reg+='[^/]'; typ='regex'
        elif ch in '.+()|{}$': reg+='\\'+ch
        elif ch=='\\':
            if k<len(p): reg+='\\'+p[k]; k+=1; typ='regex'
            else: reg+='\\\\'
        elif ch in '[]': reg+=ch; typ='regex'
        else: reg+=re.escape(ch) if ch not in '-^' else ch
        i+=1
    return typ, re.compile(reg+r'\Z') if typ=='regex' else None
def pmatch(p, c, path):
    typ, rx = c
    if typ=='exact': return path==p
    if typ=='prefix': return path.startswith(p[:-2])
    if typ=='suffix':
        s=p[2:]
        return path.endswith(s) or (s[:1]=='/' and path==s[1:])
    return rx.match(path) is not None
def new(pats):
    out=[]
    for p in pats:
        p=p.strip()
        if not p: continue
        p=clean(p); ex=False
        if p[0]=='!':
            ex=True; p=p[1:]
        out.append((ex,p,compile(p)))
    return out
def matches(pm, f):
    f=clean(f)
    if f=='.': return False
    parent = f.rsplit('/',1)[0] if '/' in f else '.'
    pdirs=parent.split('/')
    m=False
    for ex,p,c in pm:
        if ex!=m: continue
        r=pmatch(p,c,f)
        if not r and parent!='.':
            for i in range(len(pdirs)):
                if pmatch(p,c,'/'.join(pdirs[:i+1])): r=True; break
        if r: m = not ex
    return m
toks=['a','b','.','/','*','?','**','[ab]','[^a]','[a-b]','\\*','\\.','a','b','/']
def gpat():
    s=''.join(random.choice(toks) for _ in range(random.randint(1,6)))
    return ('!' if random.random()<0.3 else '')+s
def gpath():
    return '/'.join(''.join(random.choice('ab.*') for _ in range(random.randint(1,3))) for _ in range(random.randint(1,4)))
random.seed(int(sys.argv[1]) if len(sys.argv)>1 else 1)
cases=[]
for _ in range(20000):
    pats=[gpat() for _ in range(random.randint(1,4))]
    cases.append((pats,gpath()))
inp=''.join('|'.join(p)+'\t'+f+'\n' for p,f in cases)
out=subprocess.run([sys.argv[2]],input=inp.encode(),capture_output=True).stdout.decode().split('\n')
bad=0; skipped=0; nodesc=0
for (pats,f),o in zip(cases,out):
    if o=='E': skipped+=1; continue
    got,may=o.split()
    pm=new(pats)
    want=matches(pm,f)
    if int(got)!=want:
        bad+=1
        if bad<15: print('MISMATCH',pats,repr(f),'got',got,'want',want)
    # dir skip property
    if want and may=='0':
        for _ in range(20):
            x=f+'/'+gpath()
            if clean(f)=='.' or not clean(x).startswith(clean(f)+'/'): continue
            if not matches(pm,x):
                bad+=1; print('HIDDEN',pats,f,x); break
print('cases',len(cases),'errors',skipped,'bad',bad)
