chars=set()
# JIS X 0208 level 1 kanji via EUC-JP rows 16-47, GB2312 level 1 via rows 16-55
for enc,rows in (("euc_jp",range(16,48)),("gb2312",range(16,56))):
    for r in rows:
        for c in range(1,95):
            try: chars.add(bytes([0xA0+r,0xA0+c]).decode(enc))
            except Exception: pass
# kana, CJK punctuation, fullwidth forms
for lo,hi in ((0x3000,0x303F),(0x3040,0x309F),(0x30A0,0x30FF),(0xFF00,0xFFEF),(0x31F0,0x31FF)):
    chars.update(chr(c) for c in range(lo,hi+1))
print(len(chars))
open("/tmp/cjk_chars.txt","w").write("".join(sorted(chars)))
# Hangul: the 2,350 KS X 1001 syllables (EUC-KR rows 16-40) + compatibility jamo U+3131-318E
ko=set()
for r in range(16,41):
    for c in range(1,95):
        try: ko.add(bytes([0xA0+r,0xA0+c]).decode("euc_kr"))
        except Exception: pass
print("hangul syllables",len(ko))
ko.update(chr(c) for c in range(0x3131,0x318F))
print("hangul with jamo",len(ko))
open("/tmp/hangul_chars.txt","w").write("".join(sorted(ko)))
