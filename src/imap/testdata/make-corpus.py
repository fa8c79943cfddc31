# Writes the corpus of real-world-shaped test messages (mime.test.ts) into the current directory.
# Usage: cd src/imap/testdata && python3 make-corpus.py
import base64, os
def crlf(s): return s.replace("\r\n","\n").replace("\n","\r\n")
files = {}

files["01-simple.eml"] = crlf("""Return-Path: <alice@example.test>
Received: from mx.example.test (mx.example.test [192.0.2.1])
	by mail.example.test with ESMTPS id abc123
	for <bob@example.test>; Fri, 05 Jan 2024 10:20:30 +0100
Date: Fri, 05 Jan 2024 10:20:30 +0100
From: Alice Example <alice@example.test>
To: Bob <bob@example.test>
Subject: Lunch
 on Friday?
Message-ID: <20240105102030.1@example.test>
MIME-Version: 1.0
Content-Type: text/plain; charset=utf-8; format=flowed
Content-Transfer-Encoding: 7bit

Hi Bob,

Lunch on Friday at noon?

Alice
""")

files["02-alternative.eml"] = crlf("""From: "Shop, Inc." <news@shop.example>
To: customer@example.test
Subject: Your order has shipped
Date: Mon, 12 Feb 2024 08:00:00 +0000
Message-ID: <order-77@shop.example>
MIME-Version: 1.0
Content-Type: multipart/alternative;
 boundary="----=_Part_0_123.456"

This is a multi-part message in MIME format.

------=_Part_0_123.456
Content-Type: text/plain; charset="UTF-8"
Content-Transfer-Encoding: quoted-printable

Your order #77 has shipped =E2=80=94 thanks!
Track it at https://shop.example/t/77
------=_Part_0_123.456
Content-Type: text/html; charset="UTF-8"
Content-Transfer-Encoding: quoted-printable

<html><body><p>Your order #77 has shipped =E2=80=94 thanks!</p></body></html>

------=_Part_0_123.456--
""")

pdf = base64.encodebytes(b"%PDF-1.4\n" + bytes(range(256)) * 2 + b"\n%%EOF\n").decode().replace("\n","\r\n")
png = base64.encodebytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40).decode().replace("\n","\r\n")
files["03-mixed-attachments.eml"] = crlf("""From: Carol <carol@example.test>
To: Team <team@example.test>
Cc: dave@example.test, "Eve (QA)" <eve@example.test>
Subject: Minutes and slides
Date: Tue, 13 Feb 2024 17:45:00 -0500
Message-ID: <minutes-2024-02-13@example.test>
In-Reply-To: <agenda-2024-02-13@example.test>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary=outer-boundary
Content-Language: en

--outer-boundary
Content-Type: text/plain; charset=us-ascii
Content-Language: en, de

Minutes attached.
--outer-boundary
Content-Type: application/pdf; name="minutes.pdf"
Content-Disposition: attachment; filename="minutes.pdf"; size=522
Content-Transfer-Encoding: base64
Content-Description: Meeting minutes
Content-MD5: Q2hlY2sgSW50ZWdyaXR5IQ==

""") + pdf + crlf("""--outer-boundary
Content-Type: image/png
Content-ID: <logo@example.test>
Content-Disposition: inline
Content-Location: http://example.test/logo.png
Content-Transfer-Encoding: base64

""") + png + crlf("""--outer-boundary--
Epilogue text is ignored.
""")

files["04-related-in-alternative.eml"] = crlf("""From: Newsletter <news@example.test>
To: reader@example.test
Subject: Newsletter with inline image
Date: Wed, 14 Feb 2024 06:00:00 +0000
Message-ID: <nl-1@example.test>
MIME-Version: 1.0
Content-Type: multipart/alternative; boundary="alt"

--alt
Content-Type: text/plain; charset=utf-8

Plain version.
--alt
Content-Type: multipart/related; boundary="rel"; type="text/html"

--rel
Content-Type: text/html; charset=utf-8

<p>HTML version <img src="cid:pic@x"></p>
--rel
Content-Type: image/gif
Content-ID: <pic@x>
Content-Transfer-Encoding: base64

R0lGODlhAQABAAAAACw=
--rel--

--alt--
""")

files["05-forwarded-rfc822.eml"] = crlf("""From: Frank <frank@example.test>
To: Grace <grace@example.test>
Subject: Fwd: Budget
Date: Thu, 15 Feb 2024 09:00:00 +0100
Message-ID: <fwd-1@example.test>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="fwd-outer"

--fwd-outer
Content-Type: text/plain; charset=utf-8

See the message below.

--fwd-outer
Content-Type: message/rfc822
Content-Disposition: inline

From: Heidi <heidi@example.test>
To: Frank <frank@example.test>
Subject: Budget
Date: Wed, 14 Feb 2024 16:00:00 +0100
Message-ID: <budget-1@example.test>
MIME-Version: 1.0
Content-Type: multipart/alternative; boundary="inner"

--inner
Content-Type: text/plain; charset=utf-8

Budget is approved.
--inner
Content-Type: text/html; charset=utf-8

<b>Budget is approved.</b>
--inner--

--fwd-outer--
""")

files["06-digest.eml"] = crlf("""From: list-digest@lists.example
To: subscriber@example.test
Subject: List Digest, Vol 1, Issue 2
Date: Fri, 16 Feb 2024 00:00:00 +0000
MIME-Version: 1.0
Content-Type: multipart/digest; boundary="digest-b"

--digest-b

From: Ivan <ivan@example.test>
Subject: First post
Date: Thu, 15 Feb 2024 10:00:00 +0000

Hello list.

--digest-b

From: Judy <judy@example.test>
Subject: Re: First post
Date: Thu, 15 Feb 2024 11:00:00 +0000
In-Reply-To: <first@lists.example>

Hi Ivan.

--digest-b--
""")

body_latin1 = "Grüße aus Köln, café crème.\n".encode("latin-1")
files["07-latin1.eml"] = crlf("""From: =?ISO-8859-1?Q?J=FCrgen_M=FCller?= <juergen@example.test>
To: =?iso-8859-1?q?Ren=E9e?= <renee@example.test>
Subject: =?ISO-8859-1?Q?Gr=FC=DFe_aus_K=F6ln?=
Date: Sat, 17 Feb 2024 12:00:00 +0100
Message-ID: <latin1@example.test>
MIME-Version: 1.0
Content-Type: text/plain; charset=ISO-8859-1
Content-Transfer-Encoding: 8bit

""").encode("latin-1") + body_latin1.replace(b"\n", b"\r\n")

sjis = "こんにちは、世界。\n".encode("shift_jis")
files["08-shift-jis.eml"] = crlf("""From: =?Shift_JIS?B?k2OShg==?= <tanaka@example.jp>
To: suzuki@example.jp
Subject: =?Shift_JIS?B?grGC8YLJgr+CzQ==?=
Date: Sun, 18 Feb 2024 09:30:00 +0900
Message-ID: <sjis@example.jp>
MIME-Version: 1.0
Content-Type: text/plain; charset=Shift_JIS
Content-Transfer-Encoding: base64

""") + base64.encodebytes(sjis).decode().replace("\n", "\r\n")

koi = "Привет, мир!\nКак дела?\n".encode("koi8-r")
files["09-koi8r.eml"] = crlf("""From: =?koi8-r?B?6dfBzg==?= <ivan@example.ru>
To: olga@example.ru
Subject: =?koi8-r?B?8NLJ18XU?=
Date: Mon, 19 Feb 2024 18:00:00 +0300
Message-ID: <koi@example.ru>
MIME-Version: 1.0
Content-Type: text/plain; charset="koi8-r"
Content-Transfer-Encoding: 8bit

""").encode() + koi.replace(b"\n", b"\r\n")

files["10-rfc2231.eml"] = crlf("""From: Mallory <mallory@example.test>
To: trent@example.test
Subject: Report with a long name
Date: Tue, 20 Feb 2024 10:00:00 +0000
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="b2231"

--b2231
Content-Type: text/plain

See attachment.
--b2231
Content-Type: application/octet-stream;
 name*0*=UTF-8''Quarterly%20Report%20;
 name*1*=%E2%80%94%20Q1.bin
Content-Disposition: attachment;
 filename*0*=UTF-8''Quarterly%20Report%20;
 filename*1*=%E2%80%94%20Q1.bin
Content-Transfer-Encoding: base64

AAECAwQFBgc=
--b2231--
""")

files["11-broken-headers.eml"] = crlf("""From: Broken Mailer <broken@example.test>
This line has no colon at all
To: victim@example.test
Subject: Caf""").encode() + b"\xe9 au lait" + crlf("""
X-Bad-8bit: """).encode() + b"\xff\xfe raw" + crlf("""
Content-Type: text
Content-Transfer-Encoding: 7bit
Date: not a date

Body of a message with broken headers.
""").encode()

files["12-missing-final-boundary.eml"] = crlf("""From: Truncated <trunc@example.test>
To: someone@example.test
Subject: Cut off
Date: Wed, 21 Feb 2024 10:00:00 +0000
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="never-closed"

--never-closed
Content-Type: text/plain; charset=us-ascii

first part
--never-closed
Content-Type: text/plain; charset=us-ascii

second part, the message ends without a close delimiter
""")

files["13-no-content-type.eml"] = crlf("""From: old-mailer@example.test
To: someone@example.test
Subject: No MIME headers at all
Date: 22 Feb 2024 10:00 GMT

Just text.
Two lines.
""")

files["14-bare-lf.eml"] = """From: Unix <unix@example.test>
To: someone@example.test
Subject: Bare LF
Date: Fri, 23 Feb 2024 10:00:00 +0000
Content-Type: multipart/mixed; boundary=lf

--lf
Content-Type: text/plain

one
--lf
Content-Type: text/plain

two
--lf--
"""

files["15-addresses.eml"] = crlf("""From: "Doe, John" <john.doe@example.test> (work)
Sender: 
Reply-To: <@relay1.example,@relay2.example:replies@example.test>
To: undisclosed-recipients:;
Cc: Team: alice@example.test, "Bob B." <bob@example.test>;, carol (Carol C.), local-only
Bcc: =?UTF-8?B?5pel5pys?= <nihon@example.test>
Subject: Addresses
Date: Sat, 24 Feb 2024 10:00:00 +0000
Message-ID: <addr@example.test>
In-Reply-To: <a@example.test> <b@example.test>

Body.
""")

files["16-multipart-no-boundary.eml"] = crlf("""From: nobody@example.test
Subject: Multipart without boundary
Content-Type: multipart/mixed

--x
Content-Type: text/plain

text
--x--
""")

for name, data in files.items():
    if isinstance(data, str): data = data.encode("utf-8")
    open(name, "wb").write(data)
print(len(files))
