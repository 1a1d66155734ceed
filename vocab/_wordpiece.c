/* Basic tokenization and cached WordPiece for whole lines: the compiled twin of vocab/tokenization.py.
 *
 * Written by hand because measurement showed it is needed and no library gives the reference's output:
 * after the whole-text passes, the Python path spends most of its time per word (regex findall building a
 * list, itertools.chain, one cache lookup per word, and on a miss a greedy search in Python), which capped it
 * at 13-18x the reference on English and 3-6x on other scripts. HF tokenizers is 3.3x and differs on a few
 * lines; tf_text's FastBertTokenizer differs on thousands (benchmarks/RESULTS.md). The same results as the
 * Python path are checked by tests/vocab/test_tokenization.py, which runs every comparison on both paths.
 *
 * Text that is not all ASCII is cut into chunks at the reference's whitespace (str.isspace, less the
 * controls its cleaning drops). The reference cleans, lowercases, decomposes and strips accents from each
 * whitespace token on its own, so a chunk's words depend on the chunk alone: ASCII chunks are split here,
 * other chunks' words come from a chunk cache, and the chunks it lacks go to `normalize` joined by spaces,
 * in one call per text (a space is a starter for NFD and neither cased nor case-ignorable, and nothing
 * lowercases or decomposes to a space, so the result splits back at its spaces into each chunk's form; where
 * the count differs each chunk is normalized alone).
 *
 * Encoder(lower, normalize, isolated, lookup, ids, cache, chunks, cache_limit, max_chars, unk_token)
 *   lower:     lowercase ASCII text here (other text arrives lowercased from `normalize`)
 *   normalize: callable(str) -> str, the cleaning, lowercasing, NFD and accent passes, called for
 *              non-ASCII text only
 *   isolated:  bytes, a bitmap over all 0x110000 code points: characters that are a token of their own
 *              (punctuation, CJK)
 *   lookup:    dict piece -> value; a word's value tuple holds these values (token ids when `ids`, else the
 *              vocab's own strings). Its keys go into a trie over code points: the greedy search walks
 *              forward along it from each position, remembering the longest entry it passes, which is the
 *              longest entry that fits (every entry's prefixes are on its path) without building a string
 *              per candidate.
 *   cache:     dict word -> value tuple, filled on a miss and cleared when it holds cache_limit words
 *   chunks:    dict non-ASCII chunk of at most CHUNK_CACHED characters -> tuple of its words, cleared when it
 *              holds cache_limit chunks (longer chunks, unspaced sentences mostly, rarely repeat)
 *   max_chars: longer words are the unknown token
 *   unk_token: the unknown token (its value is lookup[unk_token] when `ids`)
 * Methods: basic(text) -> list[str]; encode(text) -> list; encode_words(text) -> (words, [tuple]);
 *   encode_batch(texts) -> list[list]. `text` is str or UTF-8 bytes (invalid bytes dropped).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#define MAX_CODE_POINT 0x110000
#define CHUNK_CACHED 64

/* Trie over code points: edge (parent, code point) -> child in one open-addressing table; node 0 is the
 * root; values[node] is the entry ending there (a strong reference) or NULL. */
typedef struct {
    uint64_t *keys; /* ((parent + 1) << 21) | code point; 0 = empty slot */
    int32_t *children;
    size_t mask;
    PyObject **values;
    Py_ssize_t nodes;
    Py_ssize_t continuation; /* the node of "##", -1 without one */
} Trie;

typedef struct {
    PyObject_HEAD
    int lower;
    int ids;
    PyObject *normalize;
    PyObject *isolated;
    const unsigned char *bits;
    PyObject *lookup;
    PyObject *cache;
    PyObject *chunks;
    Py_ssize_t cache_limit;
    Py_ssize_t max_chars;
    PyObject *unk_token;
    Trie trie;
} Encoder;

static inline size_t edge_slot(const Trie *trie, uint64_t key) {
    return (size_t)((key * 0x9E3779B97F4A7C15ULL) >> 20) & trie->mask;
}

/* The child of `node` along `c`, or -1. */
static inline Py_ssize_t trie_child(const Trie *trie, Py_ssize_t node, Py_UCS4 c) {
    uint64_t key = ((uint64_t)(node + 1) << 21) | c;
    for (size_t slot = edge_slot(trie, key);; slot = (slot + 1) & trie->mask) {
        uint64_t found = trie->keys[slot];
        if (found == key) return trie->children[slot];
        if (found == 0) return -1;
    }
}

static void trie_free(Trie *trie) {
    if (trie->values != NULL)
        for (Py_ssize_t i = 0; i < trie->nodes; i++) Py_XDECREF(trie->values[i]);
    PyMem_Free(trie->keys);
    PyMem_Free(trie->children);
    PyMem_Free(trie->values);
    memset(trie, 0, sizeof(*trie));
    trie->continuation = -1;
}

static int trie_build(Trie *trie, PyObject *lookup) {
    Py_ssize_t pos = 0, edges = 0;
    PyObject *key, *value;
    while (PyDict_Next(lookup, &pos, &key, &value)) {
        if (!PyUnicode_Check(key)) {
            PyErr_SetString(PyExc_TypeError, "vocab entries must be str");
            return -1;
        }
        edges += PyUnicode_GET_LENGTH(key);
    }
    size_t capacity = 16;
    while (capacity < (size_t)edges * 2) capacity <<= 1;
    trie->mask = capacity - 1;
    trie->keys = PyMem_Calloc(capacity, sizeof(uint64_t));
    trie->children = PyMem_Malloc(capacity * sizeof(int32_t));
    trie->values = PyMem_Calloc(edges + 1, sizeof(PyObject *));
    trie->nodes = 1;
    if (trie->keys == NULL || trie->children == NULL || trie->values == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    pos = 0;
    while (PyDict_Next(lookup, &pos, &key, &value)) {
        int kind = PyUnicode_KIND(key);
        const void *data = PyUnicode_DATA(key);
        Py_ssize_t node = 0, length = PyUnicode_GET_LENGTH(key);
        for (Py_ssize_t i = 0; i < length; i++) {
            Py_UCS4 c = PyUnicode_READ(kind, data, i);
            uint64_t edge = ((uint64_t)(node + 1) << 21) | c;
            size_t slot = edge_slot(trie, edge);
            while (trie->keys[slot] != 0 && trie->keys[slot] != edge) slot = (slot + 1) & trie->mask;
            if (trie->keys[slot] == 0) {
                trie->keys[slot] = edge;
                trie->children[slot] = (int32_t)trie->nodes++;
            }
            node = trie->children[slot];
        }
        Py_INCREF(value);
        Py_XSETREF(trie->values[node], value);
    }
    Py_ssize_t node = trie_child(trie, 0, '#');
    trie->continuation = node < 0 ? -1 : trie_child(trie, node, '#');
    return 0;
}

/* ASCII classes after the reference's cleaning: 0 part of a word, 1 dropped (controls other than tab, LF,
 * CR), 2 whitespace, 3 punctuation (every printable non-alphanumeric character). */
enum { WORD = 0, DROP = 1, SPACE = 2, PUNCT = 3 };
static unsigned char ascii_class[128];

static void init_ascii_class(void) {
    for (int c = 0; c < 128; c++) {
        if ((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'))
            ascii_class[c] = WORD;
        else if (c == '\t' || c == '\n' || c == '\r' || c == ' ')
            ascii_class[c] = SPACE;
        else if (c < 32 || c == 127)
            ascii_class[c] = DROP;
        else
            ascii_class[c] = PUNCT;
    }
}

/* Whitespace that separates the reference's tokens: str.isspace() less the controls its cleaning drops
 * (VT, FF, the four information separators, NEL), which join their neighbours instead. */
static inline int separates(Py_UCS4 c) {
    if (c < 128) return ascii_class[c] == SPACE;
    return c != 0x85 && Py_UNICODE_ISSPACE(c);
}

static int Encoder_init(Encoder *self, PyObject *args, PyObject *kwds) {
    static char *names[] = {"lower", "normalize", "isolated", "lookup", "ids", "cache", "chunks",
                            "cache_limit", "max_chars", "unk_token", NULL};
    int lower, ids;
    PyObject *normalize, *isolated, *lookup, *cache, *chunks, *unk_token;
    Py_ssize_t cache_limit, max_chars;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "pOSO!pO!O!nnU", names, &lower, &normalize, &isolated,
                                     &PyDict_Type, &lookup, &ids, &PyDict_Type, &cache, &PyDict_Type, &chunks,
                                     &cache_limit, &max_chars, &unk_token))
        return -1;
    if (PyBytes_GET_SIZE(isolated) != MAX_CODE_POINT / 8) {
        PyErr_SetString(PyExc_ValueError, "isolated must be a bitmap of 0x110000 bits");
        return -1;
    }
    trie_free(&self->trie);
    if (trie_build(&self->trie, lookup) < 0) {
        trie_free(&self->trie);
        return -1;
    }
    Py_INCREF(normalize);
    Py_XSETREF(self->normalize, normalize);
    Py_INCREF(isolated);
    Py_XSETREF(self->isolated, isolated);
    self->bits = (const unsigned char *)PyBytes_AS_STRING(isolated);
    Py_INCREF(lookup);
    Py_XSETREF(self->lookup, lookup);
    Py_INCREF(cache);
    Py_XSETREF(self->cache, cache);
    Py_INCREF(chunks);
    Py_XSETREF(self->chunks, chunks);
    Py_INCREF(unk_token);
    Py_XSETREF(self->unk_token, unk_token);
    self->lower = lower;
    self->ids = ids;
    self->cache_limit = cache_limit;
    self->max_chars = max_chars;
    return 0;
}

static PyObject *Encoder_new(PyTypeObject *type, PyObject *args, PyObject *kwds) {
    Encoder *self = (Encoder *)PyType_GenericNew(type, args, kwds);
    if (self != NULL) self->trie.continuation = -1;
    return (PyObject *)self;
}

static int Encoder_traverse(Encoder *self, visitproc visit, void *arg) {
    Py_VISIT(self->normalize);
    Py_VISIT(self->isolated);
    Py_VISIT(self->lookup);
    Py_VISIT(self->cache);
    Py_VISIT(self->chunks);
    Py_VISIT(self->unk_token);
    return 0;
}

static int Encoder_clear(Encoder *self) {
    Py_CLEAR(self->normalize);
    Py_CLEAR(self->isolated);
    Py_CLEAR(self->lookup);
    Py_CLEAR(self->cache);
    Py_CLEAR(self->chunks);
    Py_CLEAR(self->unk_token);
    return 0;
}

static void Encoder_dealloc(Encoder *self) {
    PyObject_GC_UnTrack(self);
    Encoder_clear(self);
    trie_free(&self->trie);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

/* `text` as a new str reference: str as is, bytes decoded as UTF-8 dropping invalid bytes. */
static PyObject *as_text(PyObject *text) {
    if (PyUnicode_Check(text)) {
        Py_INCREF(text);
        return text;
    }
    if (PyBytes_Check(text))
        return PyUnicode_DecodeUTF8(PyBytes_AS_STRING(text), PyBytes_GET_SIZE(text), "ignore");
    PyErr_Format(PyExc_ValueError, "Unsupported string type: %R", (PyObject *)Py_TYPE(text));
    return NULL;
}

/* `tuple`, untracked by the garbage collector where it holds only str and int: the caches keep many such
 * tuples, which could be in no reference cycle, and each would be traversed until a collection untracks it. */
static PyObject *untracked(PyObject *tuple) {
    if (tuple == NULL) return NULL;
    Py_ssize_t n = PyTuple_GET_SIZE(tuple);
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *item = PyTuple_GET_ITEM(tuple, i);
        if (!PyUnicode_CheckExact(item) && !PyLong_CheckExact(item)) return tuple;
    }
    PyObject_GC_UnTrack(tuple);
    return tuple;
}

static int append_new(PyObject *list, PyObject *item) {
    if (item == NULL) return -1;
    int status = PyList_Append(list, item);
    Py_DECREF(item);
    return status;
}

/* The basic tokens of text[start:end], all ASCII, appended to `words`; `buffer` holds end - start chars. */
static inline int ascii_words(Encoder *self, int kind, const void *data, Py_ssize_t start, Py_ssize_t end,
                              char *buffer, PyObject *words) {
    Py_ssize_t used = 0;
    int status = 0;
    for (Py_ssize_t i = start; i <= end && status == 0; i++) {
        unsigned char c = i < end ? (unsigned char)PyUnicode_READ(kind, data, i) : ' ';
        switch (ascii_class[c]) {
        case WORD:
            buffer[used++] = (self->lower && c >= 'A' && c <= 'Z') ? (char)(c + 32) : (char)c;
            break;
        case DROP:
            break;
        default:
            if (used) {
                PyObject *word = PyUnicode_New(used, 127);
                if (word != NULL) memcpy(PyUnicode_1BYTE_DATA(word), buffer, used);
                status = append_new(words, word);
                used = 0;
            }
            if (status == 0 && ascii_class[c] == PUNCT) {
                char one = (char)c;
                status = append_new(words, PyUnicode_FromStringAndSize(&one, 1));
            }
        }
    }
    return status;
}

/* ascii_words over all of an ASCII str. */
static int ascii_text_words(Encoder *self, PyObject *text, PyObject *words) {
    Py_ssize_t length = PyUnicode_GET_LENGTH(text);
    char stack_buffer[256];
    char *buffer = length <= (Py_ssize_t)sizeof(stack_buffer) ? stack_buffer : PyMem_Malloc(length);
    if (buffer == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    int status = ascii_words(self, PyUnicode_1BYTE_KIND, PyUnicode_1BYTE_DATA(text), 0, length, buffer, words);
    if (buffer != stack_buffer) PyMem_Free(buffer);
    return status;
}

/* The basic tokens of text already cleaned and normalized: runs of characters that are neither whitespace
 * (str.isspace) nor isolated, and each isolated character alone. */
static int normalized_words(Encoder *self, PyObject *text, PyObject *words) {
    int kind = PyUnicode_KIND(text);
    const void *data = PyUnicode_DATA(text);
    Py_ssize_t length = PyUnicode_GET_LENGTH(text);
    Py_ssize_t start = -1;
    for (Py_ssize_t i = 0; i < length; i++) {
        Py_UCS4 c = PyUnicode_READ(kind, data, i);
        int space = Py_UNICODE_ISSPACE(c);
        int isolated = !space && (self->bits[c >> 3] >> (c & 7)) & 1;
        if (space || isolated) {
            if (start >= 0 && append_new(words, PyUnicode_Substring(text, start, i)) < 0) return -1;
            start = -1;
            if (isolated && append_new(words, PyUnicode_Substring(text, i, i + 1)) < 0) return -1;
        } else if (start < 0) {
            start = i;
        }
    }
    if (start >= 0 && append_new(words, PyUnicode_Substring(text, start, length)) < 0) return -1;
    return 0;
}

/* New tuple of the basic tokens of a normalized chunk. */
static PyObject *chunk_words(Encoder *self, PyObject *normalized) {
    if (!PyUnicode_Check(normalized)) {
        PyErr_SetString(PyExc_TypeError, "normalize must return str");
        return NULL;
    }
    PyObject *words = PyList_New(0);
    if (words == NULL) return NULL;
    PyObject *tuple = normalized_words(self, normalized, words) < 0 ? NULL : untracked(PyList_AsTuple(words));
    Py_DECREF(words);
    return tuple;
}

static PyObject *normalize_one(Encoder *self, PyObject *chunk) {
    PyObject *normalized = PyObject_CallOneArg(self->normalize, chunk);
    if (normalized == NULL) return NULL;
    PyObject *tuple = chunk_words(self, normalized);
    Py_DECREF(normalized);
    return tuple;
}

/* Each missing chunk's word tuple, in order (a new list): one `normalize` call for all of them where the
 * result splits back into as many parts at its spaces. */
static PyObject *normalize_chunks(Encoder *self, PyObject *missing) {
    Py_ssize_t count = PyList_GET_SIZE(missing);
    PyObject *out = PyList_New(count), *space = NULL, *joined = NULL, *normalized = NULL, *parts = NULL;
    if (out == NULL) return NULL;
    if (count > 1) {
        space = PyUnicode_FromOrdinal(' ');
        if (space == NULL || (joined = PyUnicode_Join(space, missing)) == NULL) goto error;
        normalized = PyObject_CallOneArg(self->normalize, joined);
        if (normalized == NULL) goto error;
        if (!PyUnicode_Check(normalized)) {
            PyErr_SetString(PyExc_TypeError, "normalize must return str");
            goto error;
        }
        if ((parts = PyUnicode_Split(normalized, space, -1)) == NULL) goto error;
    }
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *tuple = parts != NULL && PyList_GET_SIZE(parts) == count
                              ? chunk_words(self, PyList_GET_ITEM(parts, i))
                              : normalize_one(self, PyList_GET_ITEM(missing, i));
        if (tuple == NULL) goto error;
        PyList_SET_ITEM(out, i, tuple);
    }
    Py_XDECREF(space);
    Py_XDECREF(joined);
    Py_XDECREF(normalized);
    Py_XDECREF(parts);
    return out;
error:
    Py_DECREF(out);
    Py_XDECREF(space);
    Py_XDECREF(joined);
    Py_XDECREF(normalized);
    Py_XDECREF(parts);
    return NULL;
}

typedef struct {
    Py_ssize_t start, end;
    int ascii;
} Chunk;

/* The basic tokens of non-ASCII text, chunk by chunk (see the top of this file), appended to `words`. */
static int chunked_words(Encoder *self, PyObject *text, PyObject *words) {
    int kind = PyUnicode_KIND(text);
    const void *data = PyUnicode_DATA(text);
    Py_ssize_t length = PyUnicode_GET_LENGTH(text);
    Chunk stack_chunks[64];
    Chunk *chunks = stack_chunks;
    Py_ssize_t n_chunks = 0, capacity = 64, longest_ascii = 0;
    PyObject *resolved = PyList_New(0), *missing = PyList_New(0), *missing_at = PyList_New(0);
    PyObject *computed = NULL;
    char stack_buffer[256], *buffer = stack_buffer;
    int status = -1;
    if (resolved == NULL || missing == NULL || missing_at == NULL) goto done;
    /* The chunks, and the word tuples of the non-ASCII ones: from the cache, or None until normalized. */
    for (Py_ssize_t i = 0; i < length;) {
        while (i < length && separates(PyUnicode_READ(kind, data, i))) i++;
        if (i == length) break;
        Py_ssize_t start = i;
        int ascii = 1;
        for (; i < length; i++) {
            Py_UCS4 c = PyUnicode_READ(kind, data, i);
            if (c >= 128) {
                if (separates(c)) break;
                ascii = 0;
            } else if (ascii_class[c] == SPACE) {
                break;
            }
        }
        if (n_chunks == capacity) {
            capacity *= 2;
            Chunk *grown = chunks == stack_chunks ? PyMem_Malloc(capacity * sizeof(Chunk))
                                                  : PyMem_Realloc(chunks, capacity * sizeof(Chunk));
            if (grown == NULL) {
                PyErr_NoMemory();
                goto done;
            }
            if (chunks == stack_chunks) memcpy(grown, stack_chunks, sizeof(stack_chunks));
            chunks = grown;
        }
        chunks[n_chunks++] = (Chunk){start, i, ascii};
        if (ascii) {
            if (i - start > longest_ascii) longest_ascii = i - start;
            continue;
        }
        PyObject *key = PyUnicode_Substring(text, start, i);
        if (key == NULL) goto done;
        PyObject *tuple = i - start <= CHUNK_CACHED ? PyDict_GetItemWithError(self->chunks, key) : NULL;
        if (tuple == NULL && PyErr_Occurred()) {
            Py_DECREF(key);
            goto done;
        }
        if (tuple == NULL) {
            PyObject *at = PyLong_FromSsize_t(PyList_GET_SIZE(resolved));
            int failed = at == NULL || PyList_Append(missing, key) < 0 || PyList_Append(missing_at, at) < 0;
            Py_XDECREF(at);
            tuple = Py_None;
            if (failed) {
                Py_DECREF(key);
                goto done;
            }
        }
        Py_DECREF(key);
        if (PyList_Append(resolved, tuple) < 0) goto done;
    }
    Py_ssize_t n_missing = PyList_GET_SIZE(missing);
    if (n_missing) {
        if ((computed = normalize_chunks(self, missing)) == NULL) goto done;
        for (Py_ssize_t m = 0; m < n_missing; m++) {
            PyObject *key = PyList_GET_ITEM(missing, m), *tuple = PyList_GET_ITEM(computed, m);
            Py_ssize_t at = PyLong_AsSsize_t(PyList_GET_ITEM(missing_at, m));
            Py_INCREF(tuple);
            PyList_SetItem(resolved, at, tuple);
            if (PyUnicode_GET_LENGTH(key) <= CHUNK_CACHED) {
                if (PyDict_GET_SIZE(self->chunks) >= self->cache_limit) PyDict_Clear(self->chunks);
                if (PyDict_SetItem(self->chunks, key, tuple) < 0) goto done;
            }
        }
    }
    if (longest_ascii > (Py_ssize_t)sizeof(stack_buffer) && (buffer = PyMem_Malloc(longest_ascii)) == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    Py_ssize_t next = 0;
    for (Py_ssize_t k = 0; k < n_chunks; k++) {
        if (chunks[k].ascii) {
            if (ascii_words(self, kind, data, chunks[k].start, chunks[k].end, buffer, words) < 0) goto done;
            continue;
        }
        PyObject *tuple = PyList_GET_ITEM(resolved, next++);
        Py_ssize_t n = PyTuple_GET_SIZE(tuple);
        for (Py_ssize_t j = 0; j < n; j++)
            if (PyList_Append(words, PyTuple_GET_ITEM(tuple, j)) < 0) goto done;
    }
    status = 0;
done:
    if (chunks != stack_chunks) PyMem_Free(chunks);
    if (buffer != stack_buffer) PyMem_Free(buffer);
    Py_XDECREF(resolved);
    Py_XDECREF(missing);
    Py_XDECREF(missing_at);
    Py_XDECREF(computed);
    return status;
}

/* New list of the basic tokens of `text` (any object the reference accepts). */
static PyObject *basic_words(Encoder *self, PyObject *text) {
    PyObject *words = PyList_New(0);
    PyObject *str = as_text(text);
    if (words == NULL || str == NULL) goto error;
    if (PyUnicode_IS_ASCII(str) ? ascii_text_words(self, str, words) < 0 : chunked_words(self, str, words) < 0)
        goto error;
    Py_DECREF(str);
    return words;
error:
    Py_XDECREF(words);
    Py_XDECREF(str);
    return NULL;
}

/* Borrowed lookup[piece]; NULL with KeyError set where it is missing. */
static PyObject *lookup_or_raise(Encoder *self, PyObject *piece) {
    PyObject *value = PyDict_GetItemWithError(self->lookup, piece);
    if (value == NULL && !PyErr_Occurred()) PyErr_SetObject(PyExc_KeyError, piece);
    return value;
}

static PyObject *unknown(Encoder *self) {
    PyObject *value = self->ids ? lookup_or_raise(self, self->unk_token) : self->unk_token;
    return value == NULL ? NULL : untracked(PyTuple_Pack(1, value));
}

/* New tuple of the values of `word`'s pieces: greedy longest match first, "##" before word-internal pieces,
 * the unknown token alone where some position has no piece. */
static PyObject *split_word(Encoder *self, PyObject *word) {
    Py_ssize_t length = PyUnicode_GET_LENGTH(word);
    if (length > self->max_chars) return unknown(self);
    PyObject *value = PyDict_GetItemWithError(self->lookup, word);
    if (value != NULL) return untracked(PyTuple_Pack(1, value));
    if (PyErr_Occurred()) return NULL;
    int kind = PyUnicode_KIND(word);
    const void *data = PyUnicode_DATA(word);
    const Trie *trie = &self->trie;
    PyObject *found_values[64];
    Py_ssize_t count = 0;
    PyObject *values = NULL; /* once more than 64 pieces */
    for (Py_ssize_t start = 0; start < length;) {
        Py_ssize_t node = start ? trie->continuation : 0, found_end = start;
        PyObject *found = NULL;
        for (Py_ssize_t i = start; i < length && node >= 0; i++) {
            node = trie_child(trie, node, PyUnicode_READ(kind, data, i));
            if (node >= 0 && trie->values[node] != NULL) {
                found = trie->values[node];
                found_end = i + 1;
            }
        }
        if (found == NULL) {
            Py_XDECREF(values);
            return unknown(self);
        }
        if (count == 64 && values == NULL) {
            values = PyList_New(0);
            for (Py_ssize_t j = 0; values != NULL && j < count; j++)
                if (PyList_Append(values, found_values[j]) < 0) Py_CLEAR(values);
            if (values == NULL) return NULL;
        }
        if (values != NULL) {
            if (PyList_Append(values, found) < 0) {
                Py_DECREF(values);
                return NULL;
            }
        } else {
            found_values[count] = found;
        }
        count++;
        start = found_end;
    }
    if (values != NULL) {
        PyObject *tuple = untracked(PyList_AsTuple(values));
        Py_DECREF(values);
        return tuple;
    }
    PyObject *tuple = PyTuple_New(count);
    if (tuple == NULL) return NULL;
    for (Py_ssize_t j = 0; j < count; j++) {
        Py_INCREF(found_values[j]);
        PyTuple_SET_ITEM(tuple, j, found_values[j]);
    }
    return untracked(tuple);
}

/* Borrowed value tuple of `word`, from the cache or computed and cached. */
static PyObject *word_values(Encoder *self, PyObject *word) {
    PyObject *values = PyDict_GetItemWithError(self->cache, word);
    if (values != NULL || PyErr_Occurred()) return values;
    PyObject *computed = split_word(self, word);
    if (computed == NULL) return NULL;
    if (PyDict_GET_SIZE(self->cache) >= self->cache_limit) PyDict_Clear(self->cache);
    int status = PyDict_SetItem(self->cache, word, computed);
    Py_DECREF(computed);
    /* The cache holds the only reference now; `word_values` callers use it before the cache can change. */
    return status < 0 ? NULL : computed;
}

static PyObject *encode_text(Encoder *self, PyObject *text) {
    PyObject *words = basic_words(self, text);
    if (words == NULL) return NULL;
    PyObject *out = PyList_New(0);
    if (out == NULL) goto error;
    Py_ssize_t count = PyList_GET_SIZE(words);
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *values = word_values(self, PyList_GET_ITEM(words, i));
        if (values == NULL) goto error;
        Py_ssize_t n = PyTuple_GET_SIZE(values);
        for (Py_ssize_t j = 0; j < n; j++)
            if (PyList_Append(out, PyTuple_GET_ITEM(values, j)) < 0) goto error;
    }
    Py_DECREF(words);
    return out;
error:
    Py_DECREF(words);
    Py_XDECREF(out);
    return NULL;
}

static PyObject *Encoder_basic(Encoder *self, PyObject *text) { return basic_words(self, text); }

static PyObject *Encoder_encode(Encoder *self, PyObject *text) { return encode_text(self, text); }

static PyObject *Encoder_encode_words(Encoder *self, PyObject *text) {
    PyObject *words = basic_words(self, text);
    if (words == NULL) return NULL;
    Py_ssize_t count = PyList_GET_SIZE(words);
    PyObject *groups = PyList_New(count);
    if (groups == NULL) goto error;
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *values = word_values(self, PyList_GET_ITEM(words, i));
        if (values == NULL) goto error;
        Py_INCREF(values);
        PyList_SET_ITEM(groups, i, values);
    }
    PyObject *pair = PyTuple_Pack(2, words, groups);
    Py_DECREF(words);
    Py_DECREF(groups);
    return pair;
error:
    Py_DECREF(words);
    Py_XDECREF(groups);
    return NULL;
}

static PyObject *Encoder_encode_batch(Encoder *self, PyObject *texts) {
    PyObject *sequence = PySequence_Fast(texts, "encode_batch expects a sequence of texts");
    if (sequence == NULL) return NULL;
    Py_ssize_t count = PySequence_Fast_GET_SIZE(sequence);
    PyObject *out = PyList_New(count);
    if (out == NULL) goto error;
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *ids = encode_text(self, PySequence_Fast_GET_ITEM(sequence, i));
        if (ids == NULL) goto error;
        PyList_SET_ITEM(out, i, ids);
    }
    Py_DECREF(sequence);
    return out;
error:
    Py_DECREF(sequence);
    Py_XDECREF(out);
    return NULL;
}

static PyMethodDef Encoder_methods[] = {
    {"basic", (PyCFunction)Encoder_basic, METH_O, "The basic tokenizer's words of a text."},
    {"encode", (PyCFunction)Encoder_encode, METH_O, "The values of all pieces of a text."},
    {"encode_words", (PyCFunction)Encoder_encode_words, METH_O, "(words, each word's value tuple)."},
    {"encode_batch", (PyCFunction)Encoder_encode_batch, METH_O, "[encode(text) for text in texts]."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject EncoderType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "vocab._wordpiece.Encoder",
    .tp_basicsize = sizeof(Encoder),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "Basic tokenization and cached WordPiece of whole texts.",
    .tp_new = Encoder_new,
    .tp_init = (initproc)Encoder_init,
    .tp_dealloc = (destructor)Encoder_dealloc,
    .tp_traverse = (traverseproc)Encoder_traverse,
    .tp_clear = (inquiry)Encoder_clear,
    .tp_methods = Encoder_methods,
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "_wordpiece",
    .m_size = -1,
};

PyMODINIT_FUNC PyInit__wordpiece(void) {
    init_ascii_class();
    if (PyType_Ready(&EncoderType) < 0) return NULL;
    PyObject *m = PyModule_Create(&module);
    if (m == NULL) return NULL;
    Py_INCREF(&EncoderType);
    if (PyModule_AddObject(m, "Encoder", (PyObject *)&EncoderType) < 0) {
        Py_DECREF(&EncoderType);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
