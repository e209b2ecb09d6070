"""Adversarial texts for the WordPiece tokenizer, shared by make_golden.py (golden ids for
the Swift tests) and tokenize_compare.py (agreement with HF `tokenizers`).

Each group targets one stage: the normaliser (control and format characters, whitespace
of every kind, accents precomposed and decomposed, canonical reordering of combining marks,
case mappings that change length), CJK handling, punctuation by Unicode version, emoji,
WordPiece's maximum word length, added tokens written in the text, and truncation.
Python strings cannot hold lone surrogates, so none is here (Swift strings cannot either).
"""

CASES = [
    # empty and whitespace-only
    "", " ", "\t\n", "\u3000\u00a0\u2009", "\x00\x01\x02", "\ufffd", "\ufeff",
    # plain
    "Hello, world!", "hello world", "HELLO WORLD", "The quick brown fox jumps over the lazy dog.",
    "unaffable", "unbelievably unaffable unknowable", "running jumped swimming",
    # accents, precomposed and decomposed (NFD), reordering of combining marks
    "Héllo wörld", "ÀÉÎÕÜ àéîõü ÇçÑñ", "e\u0301cole", "cafe\u0301 na\u0308ive", "a\u0316\u0301b",
    "a\u0301\u0316b", "\u1e0b\u0323", "q\u0307\u0323", "\u0301abc", "\u0344\u0345", "\u0f73\u0f75\u0f81",
    "a\U0001D16D\U0001D165b", "\U0001D165\u0301\U0001D16D", "x\U0001D15E\U0001D16Dy",
    "Tiếng Việt có dấu", "Ωμέγα ΣΊΣΥΦΟΣ ὅτι", "Straße STRASSE", "İstanbul ıi İI", "ǅungla ǈ ǋ",
    "\u212b \u2126 \u212a", "ﬁ ﬂ ﬃ ligatures", "Ёжик в тумане", "Příliš žluťoučký kůň",
    "Zażółć gęślą jaźń", "Ærøskøbing Åland", "\u1e9e\u00df",
    # scripts
    "שָׁלוֹם עֲלֵיכֶם", "مَرْحَبًا بِالْعَالَم", "नमस्ते दुनिया", "สวัสดีครับ", "안녕하세요 세계",
    "한국어 텍스트와 English", "東京タワーは日本の電波塔です。", "我爱北京天安门", "繁體中文測試，標點！",
    "𠀀𪜀𫝀𬺰 CJK extensions", "ＡＢＣ１２３！？", "ｶﾀｶﾅ ｱｲｳ", "ㄅㄆㄇ ㄈ", "ᄀᄁ ᅡᅢ ᆨᆩ",
    "\u3400\u4dbf\u9fff\uf900\ufaff\U0002f800", "\u2e80\u2f00\u3005\u3007\u303b",
    # emoji
    "I ❤️ NY 🗽", "👩‍👩‍👧 family", "🏳️‍🌈 flag", "🇯🇵🇫🇷", "👍🏽👍🏿", "🫠🥰🥺🪿",
    "1️⃣ #️⃣", "smile😀glued", "text\ufe0f\ufe0e", "🧑‍💻 at work",
    # control and format characters, every kind of space
    "a\x00b", "zero\u200bwidth", "joiner\u200d\u200cnon", "soft\u00adhyphen", "bom\ufeffinside",
    "rtl\u202eoverride\u202c", "tab\there", "cr\rlf\ncrlf\r\n", "vt\x0bff\x0c", "nel\x85next",
    "ls\u2028ps\u2029", "nbsp\u00a0here", "ideographic\u3000space", "ogham\u1680space", "mongolian\u180evowel",
    "del\x7fc1\x80\x9f", "word\u2060joiner", "\u2066isolate\u2069", "esc\x1b[31mred\x1b[0m",
    "private\ue000use\U000f0000", "unassigned\u0378\U0001fbff", "\u0600\u06dd arabic number sign",
    # punctuation, old and new Unicode
    "hello,world!!", "¿Qué? ¡Sí!", "«quotes» “smart” ‘single’", "a—b–c‐d", "1,000.50$ €5 ¥3",
    "e-mail@domain.com", "C++ <html> a=b^c|d~e`f", "⸻ … §¶†‡", "\u2e43\u2e44\u2e52 new dashes",
    "꙳ ꛲ ꧁ ꧂", "\u166d\U000111c9 edge", "(parenthesis) [brackets] {braces}", "don't won't it's",
    "3.14159 × 10⁻³", "x² + y² = z²", "½ ⅓ ①②", "#hashtag @mention", "path/to/file.txt",
    "https://example.com/a/b?c=d&e=f#frag",
    # WordPiece maximum word length (100 characters) and very long words
    "a" * 99, "a" * 100, "a" * 101, "supercalifragilisticexpialidocious" * 3, "x" * 500,
    "é" * 100, "e\u0301" * 60, "\u4e00" * 120, "ab" * 49 + "!", "pneumonoultramicroscopicsilicovolcanoconiosis",
    # added tokens written in the text
    "[CLS] x [SEP]", "[sep] [Sep]", "[MASK]ed", "a[SEP]b", "[[SEP]]", "[UNK] [PAD][PAD]", "[CLS][SEP]",
    "[ SEP ]", "[SEP", "SEP]",
    # texts past the maximum length
    "word " * 400, "東京" * 300, "The quick brown fox. " * 60, "a " * 254 + "end",
    "x" * 150 + " " + "word " * 300,
]
