"""Names the cleaners recognise in many languages (small tables, lower-cased): the file and category
namespaces, interlanguage prefixes, image options, and the titles of sections that hold no prose."""
from __future__ import annotations

import re

FILE_NAMESPACES = frozenset({
    "file", "image", "media", "datei", "bild", "fichier", "файл", "зображення",
    "изображение", "ファイル", "画像", "archivo", "imagen", "bestand",
    "afbeelding", "plik", "grafika", "ficheiro", "imagem", "arquivo",
    "immagine", "dosya", "resim", "fil", "tiedosto", "kuva", "soubor",
    "obrázok", "súbor", "kép", "fișier", "imagine", "слика", "датотека",
    "ملف", "صورة", "پرونده", "تصویر", "קובץ", "תמונה", "ไฟล์", "ภาพ",
    "文件", "檔案", "图像", "圖像", "파일", "그림", "attēls", "fails", "vaizdas",
    "failas", "податотека", "skrá", "mynd", "fitxer", "fitxategi",
    "irudi", "berkas", "gambar", "tập tin", "hình", "चित्र", "फ़ाइल",
})
CATEGORY_NAMESPACES = frozenset({
    "category", "kategorie", "catégorie", "категорія", "категория", "カテゴリ",
    "categoría", "categoria", "kategoria", "categorie",
    "kategori", "kategorija", "kategória", "kategorio", "luokka", "flokkur",
    "تصنيف", "رده", "קטגוריה", "หมวดหมู่", "分类", "分類", "분류", "thể loại",
    "श्रेणी", "категорија", "категорыя", "kateqoriya", "kategooria",
    "kategorii", "kategoreja", "kategoreje",
})
CATEGORY_HINT = re.compile(r"categor|kategor|категор", re.IGNORECASE)
# Interlanguage/interwiki prefix as editors write it: lowercase code.
INTERLANGUAGE = re.compile(r"^[a-z]{2,3}(?:-[a-z0-9]{2,10}){0,2}$|^simple$")
MEDIA_EXTENSION = re.compile(
    r"\.(?:jpe?g|png|gif|svg|tiff?|webp|xcf|pdf|djvu|ogg|oga|ogv|webm|mp3|"
    r"wav|flac|mid|midi|stl)\s*$", re.IGNORECASE)
IMAGE_OPTIONS = frozenset({
    "thumb", "thumbnail", "frame", "framed", "frameless", "border", "left",
    "right", "center", "centre", "none", "upright", "baseline", "middle",
    "mini", "miniatur", "miniatura", "miniaturadeimagen", "vignette", "gauche",
    "droite", "centré", "links", "rechts", "zentriert", "rahmenlos", "hochkant",
    "мини", "миниатюра", "мініатюра", "міні", "праворуч", "ліворуч", "центр",
    "справа", "слева", "без рамки", "サムネイル", "右", "左", "中央", "ขวา",
    "ซ้าย", "กึ่งกลาง", "izquierda", "derecha", "centro",
    "miniaturka", "mały", "prawo", "lewo", "صغير", "تصغير",
    "يمين", "يسار", "مركز",
})
IMAGE_OPTION_PATTERN = re.compile(
    r"^(?:\d*x?\d+\s*(?:px|пкс|пикс|пікс)|(?:upright|alt|link|class|lang|page|"
    r"thumb|thumbnail|mini|miniatur|vignette|мини|мініатюра|альт)\s*=.*)$",
    re.IGNORECASE | re.DOTALL)

# Sections that hold no prose; dropped with their subsections.
NON_PROSE_SECTIONS = frozenset({
    # en
    "references", "notes", "external links", "see also", "further reading",
    "bibliography", "sources", "footnotes", "citations", "works cited",
    "notes and references", "references and notes", "notes and sources",
    "sources and further reading", "external links and references",
    "references and external links", "related pages", "other websites",
    "gallery", "image gallery", "cited sources", "general references",
    "explanatory notes",
    # de
    "einzelnachweise", "weblinks", "siehe auch", "anmerkungen", "quellen",
    "fußnoten", "galerie", "quellen und anmerkungen",
    # fr
    "références", "notes et références", "liens externes", "voir aussi",
    "bibliographie", "articles connexes", "liens internes", "annexes",
    "sources et références", "références et notes",
    # uk
    "примітки", "посилання", "див. також", "джерела", "виноски", "галерея",
    "джерела та література", "примітки та джерела",
    # ru / bg
    "примечания", "ссылки", "см. также", "источники", "бележки",
    "източници", "външни препратки", "вижте също",
    # ja
    "脚注", "出典", "参考文献", "関連項目", "外部リンク", "注釈", "注", "参考資料",
    "ギャラリー", "脚注・出典", "注釈・出典",
    # es / pt / it / nl / pl
    "referencias", "enlaces externos", "véase también", "notas", "bibliografía",
    "fuentes", "galería", "referências", "ligações externas", "ver também",
    "note", "bibliografia", "collegamenti esterni", "voci correlate",
    "bronnen", "referenties", "externe links", "zie ook", "noten",
    "przypisy", "linki zewnętrzne", "zobacz też",
    # ar
    "المراجع", "مراجع", "وصلات خارجية", "انظر أيضا", "انظر أيضًا", "مصادر",
    "المصادر", "هوامش", "معرض صور", "روابط خارجية", "ملاحظات",
    # th
    "อ้างอิง", "แหล่งข้อมูลอื่น", "ดูเพิ่ม", "เชิงอรรถ", "หนังสืออ่านเพิ่ม",
    "แหล่งอ้างอิง", "ดูเพิ่มเติม",
})
# "Literature" is a bibliography in de/uk/ru but a prose subsection of a
# country's culture: dropped only as a top-level (==) section.
AMBIGUOUS_SECTIONS = frozenset({"literatur", "література", "литература", "literature"})
