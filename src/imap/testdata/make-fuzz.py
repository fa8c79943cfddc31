# Generates random nested MIME messages for the differential test against Dovecot (mime.test.ts).
# Usage: python3 make-fuzz.py  (writes /tmp/fuzz/NNN.eml; deterministic, seed 42)
import random
random.seed(42)
def text(n):
    words=["alpha","beta","gamma","delta","x","caf\u00e9","",""]
    lines=[" ".join(random.choice(words) for _ in range(random.randint(0,6))) for _ in range(n)]
    return "\r\n".join(lines)
cnt=[0]
def leaf(depth):
    kind=random.choice(["plain","html","app","msg","noct","qp","lang"])
    if kind=="msg" and depth<4:
        return "Content-Type: message/rfc822\r\n\r\n" + message(depth+1)
    if kind=="plain": h="Content-Type: text/plain; charset=utf-8\r\n"
    elif kind=="html": h="Content-Type: text/html\r\n"
    elif kind=="app": h='Content-Type: application/octet-stream; name="f.bin"\r\nContent-Disposition: attachment; filename="f.bin"\r\nContent-Transfer-Encoding: base64\r\n'
    elif kind=="qp": h="Content-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\nContent-ID: <c%d@x>\r\n"%random.randint(1,99)
    elif kind=="lang": h="Content-Type: text/plain\r\nContent-Language: fr, en\r\nContent-Location: http://x.test/a\r\nContent-Description: desc\r\n"
    else: h=""
    body = "QUJDREVGRw==\r\nSElKSw==" if kind=="app" else text(random.randint(0,4))
    if random.random()<0.5: body += "\r\n"
    return h + "\r\n" + body
def multipart(depth):
    cnt[0]+=1
    b="b%d_%d"%(depth,cnt[0])
    sub=random.choice(["mixed","alternative","related","digest"])
    s='Content-Type: multipart/%s; boundary="%s"\r\n\r\n'%(sub,b)
    if random.random()<0.5: s+="preamble text\r\n"
    n=random.randint(1,3)
    for i in range(n):
        s+="--%s\r\n"%b
        if sub=="digest" and random.random()<0.5:
            s+="\r\n"+message(depth+1)
        else:
            s+=entity(depth+1)
        s+="\r\n"
    if random.random()<0.85:
        s+="--%s--\r\n"%b
        if random.random()<0.5: s+="epilogue\r\n"
    return s
def entity(depth):
    if depth<4 and random.random()<0.4: return multipart(depth)
    return leaf(depth)
def message(depth):
    h="From: Someone <s%d@example.test>\r\nSubject: fuzz %d\r\nDate: Mon, 1 Jan 2024 00:00:00 +0000\r\nMIME-Version: 1.0\r\n"%(depth,random.randint(0,999))
    return h + entity(depth)
for i in range(60):
    m=message(0)
    open("/tmp/fuzz/%03d.eml"%i,"wb").write(m.encode("utf-8"))
print("ok")
