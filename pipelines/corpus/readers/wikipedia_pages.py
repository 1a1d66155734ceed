"""Which dump pages are articles: namespace, content model, redirects, disambiguation."""
from __future__ import annotations

import re

from pipelines.corpus.readers.wikipedia_dump import WikiPage

NAMESPACE = "namespace"
NON_WIKITEXT = "non_wikitext"
REDIRECT = "redirect"
DISAMBIGUATION = "disambiguation"
EMPTY_PAGE = "empty_page"
PAGE_DROP_REASONS = (NAMESPACE, NON_WIKITEXT, REDIRECT, DISAMBIGUATION, EMPTY_PAGE)

# Localized #REDIRECT magic words (MediaWiki's MessagesXx.php), for pages whose
# <redirect> element is missing (older dumps, hand-made exports).
_REDIRECT_WORDS = (
    "REDIRECT", "REDIRECTION", "WEITERLEITUNG", "REDIRECCIÓN", "REDIRECCION", "RINVIA",
    "RINVIO", "DOORVERWIJZING", "PATRZ", "PRZEKIERUJ", "REDIRECIONAMENTO", "ПЕРЕНАПРАВЛЕНИЕ",
    "ПЕРЕНАПР", "ПЕРЕНАПРАВЛЕННЯ", "ПЕРЕНАСОЧВАНЕ", "ПРЕУСМЕРИ", "重定向", "重新導向", "转到",
    "轉到", "転送", "リダイレクト", "넘겨주기", "تحويل", "הפניה", "เปลี่ยนทาง", "YÖNLENDİRME",
    "UUDELLEENOHJAUS", "OMDIRIGERING", "AÜMBERUFUNG", "PĀRADRESĒT", "PERADRESAVIMAS",
)
_REDIRECT_TEXT = re.compile(
    r"^\s*[#＃]\s*(?:" + "|".join(map(re.escape, _REDIRECT_WORDS)) + r")\b", re.IGNORECASE
)
# Disambiguation markers: the __DISAMBIG__ magic word (Extension:Disambiguator)
# and the usual disambiguation templates of large wikis.
_DISAMBIGUATION = re.compile(
    r"__DISAMBIG__|\{\{\s*(?:disambig(?:uation)?|dab|hndis|geodis|surname|given name|"
    r"begriffsklärung|homonymie|desambiguación|desambiguacion|disambigua|dp|"
    r"неоднозначність|неоднозначность|многозначность|пояснителна страница|"
    r"曖昧さ回避|aimai|消歧义|消歧義|disambig-\w+|[a-z ]*disambiguation)\s*[|}]",
    re.IGNORECASE,
)
_DISAMBIGUATION_TITLE = re.compile(r"\((?:disambiguation|homonymie|desambiguación|Begriffsklärung)\)$", re.I)


def is_redirect(page: WikiPage) -> bool:
    return page.redirect or bool(_REDIRECT_TEXT.match(page.text))


def is_disambiguation(page: WikiPage) -> bool:
    return bool(_DISAMBIGUATION_TITLE.search(page.title) or _DISAMBIGUATION.search(page.text))


def page_drop_reason(page: WikiPage) -> str | None:
    """None for an article to keep, else the stats reason it is dropped."""
    if page.namespace != 0:
        return NAMESPACE
    # Schemas before 0.8 carry no <model>; their namespace-0 pages are wikitext.
    if page.model and page.model != "wikitext":
        return NON_WIKITEXT
    if is_redirect(page):
        return REDIRECT
    if not page.text.strip():
        return EMPTY_PAGE
    if is_disambiguation(page):
        return DISAMBIGUATION
    return None
