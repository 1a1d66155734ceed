/* Basic tokenization and cached WordPiece for whole lines: the compiled twin of vocab/tokenization.py.
 *
 * Written by hand because measurement showed it is needed and no library gives the reference's output:
 * after the whole-text passes, the Python path spends most of its time per word (regex findall building a
 * list, itertools.chain, one cache lookup per word, and on a miss a greedy search in Python), which capped it
 * at 13-18x the reference on English and 3-6x on other scripts. HF tokenizers is 3.3x and differs on a few
 * lines; tf_text's FastBertTokenizer differs on thousands (benchmarks/RESULTS.md). The same results as the
 * Python path are checked by tests/vocab/test_tokenization.py, which runs every comparison on both paths.
 *
 * Encoder(lower, normalize, isolated, lookup, ids, cache, cache_limit, longest, max_chars, unk_token)
 *   lower:     lowercase ASCII text here (other text arrives lowercased from `normalize`)
 *   normalize: callable(str) -> str, the cleaning, lowercasing, NFD and accent passes, called for
 *              non-ASCII text only
 *   isolated:  bytes, a bitmap over all 0x110000 code points: characters that are a token of their own
 *              (punctuation, CJK)
 *   lookup:    dict piece -> value; a word's value tuple holds these values (token ids when `ids`, else the
 *              vocab's own strings)
 *   prefixes:  dict: every prefix of every vocab entry -> the vocab's own string where the prefix is an entry
 *              itself, else None. The greedy search walks forward while its candidate is a prefix, remembering
 *              the longest entry, instead of trying every length from the longest down: the same piece, since
 *              every entry's prefixes are in the dict, found in a few lookups.
 *   cache:     dict word -> value tuple, filled on a miss and cleared when it holds cache_limit words
 *   longest:   length of the longest vocab entry, where the greedy search starts
 *   max_chars: longer words are the unknown token
 *   unk_token: the unknown token (its value is lookup[unk_token] when `ids`)
 * Methods: basic(text) -> list[str]; encode(text) -> list; encode_words(text) -> (words, [tuple]);
 *   encode_batch(texts) -> list[list]. `text` is str or UTF-8 bytes (invalid bytes dropped).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

#define MAX_CODE_POINT 0x110000

typedef struct {
    PyObject_HEAD
    int lower;
    int ids;
    PyObject *normalize;
    PyObject *isolated;
    const unsigned char *bits;
    PyObject *lookup;
    PyObject *prefixes;
    PyObject *cache;
    Py_ssize_t cache_limit;
    Py_ssize_t longest;
    Py_ssize_t max_chars;
    PyObject *unk_token;
} Encoder;

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

static int Encoder_init(Encoder *self, PyObject *args, PyObject *kwds) {
    static char *names[] = {"lower", "normalize", "isolated", "lookup", "prefixes", "ids", "cache",
                            "cache_limit", "longest", "max_chars", "unk_token", NULL};
    int lower, ids;
    PyObject *normalize, *isolated, *lookup, *prefixes, *cache, *unk_token;
    Py_ssize_t cache_limit, longest, max_chars;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "pOSO!O!pO!nnnU", names, &lower, &normalize, &isolated,
                                     &PyDict_Type, &lookup, &PyDict_Type, &prefixes, &ids, &PyDict_Type, &cache,
                                     &cache_limit, &longest, &max_chars, &unk_token))
        return -1;
    if (PyBytes_GET_SIZE(isolated) != MAX_CODE_POINT / 8) {
        PyErr_SetString(PyExc_ValueError, "isolated must be a bitmap of 0x110000 bits");
        return -1;
    }
    Py_INCREF(normalize);
    Py_XSETREF(self->normalize, normalize);
    Py_INCREF(isolated);
    Py_XSETREF(self->isolated, isolated);
    self->bits = (const unsigned char *)PyBytes_AS_STRING(isolated);
    Py_INCREF(lookup);
    Py_XSETREF(self->lookup, lookup);
    Py_INCREF(prefixes);
    Py_XSETREF(self->prefixes, prefixes);
    Py_INCREF(cache);
    Py_XSETREF(self->cache, cache);
    Py_INCREF(unk_token);
    Py_XSETREF(self->unk_token, unk_token);
    self->lower = lower;
    self->ids = ids;
    self->cache_limit = cache_limit;
    self->longest = longest;
    self->max_chars = max_chars;
    return 0;
}

static int Encoder_traverse(Encoder *self, visitproc visit, void *arg) {
    Py_VISIT(self->normalize);
    Py_VISIT(self->isolated);
    Py_VISIT(self->lookup);
    Py_VISIT(self->prefixes);
    Py_VISIT(self->cache);
    Py_VISIT(self->unk_token);
    return 0;
}

static int Encoder_clear(Encoder *self) {
    Py_CLEAR(self->normalize);
    Py_CLEAR(self->isolated);
    Py_CLEAR(self->lookup);
    Py_CLEAR(self->prefixes);
    Py_CLEAR(self->cache);
    Py_CLEAR(self->unk_token);
    return 0;
}

static void Encoder_dealloc(Encoder *self) {
    PyObject_GC_UnTrack(self);
    Encoder_clear(self);
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

static int append_new(PyObject *list, PyObject *item) {
    if (item == NULL) return -1;
    int status = PyList_Append(list, item);
    Py_DECREF(item);
    return status;
}

/* The basic tokens of ASCII text, appended to `words`. */
static int ascii_words(Encoder *self, PyObject *text, PyObject *words) {
    const unsigned char *data = PyUnicode_1BYTE_DATA(text);
    Py_ssize_t length = PyUnicode_GET_LENGTH(text);
    char stack_buffer[256];
    char *buffer = length <= (Py_ssize_t)sizeof(stack_buffer) ? stack_buffer : PyMem_Malloc(length);
    if (buffer == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    Py_ssize_t used = 0;
    int status = 0;
    for (Py_ssize_t i = 0; i <= length && status == 0; i++) {
        unsigned char c = i < length ? data[i] : ' ';
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

/* New list of the basic tokens of `text` (any object the reference accepts). */
static PyObject *basic_words(Encoder *self, PyObject *text) {
    PyObject *words = PyList_New(0);
    PyObject *str = as_text(text);
    if (words == NULL || str == NULL) goto error;
    if (PyUnicode_IS_ASCII(str)) {
        if (ascii_words(self, str, words) < 0) goto error;
    } else {
        PyObject *normalized = PyObject_CallOneArg(self->normalize, str);
        if (normalized == NULL) goto error;
        if (!PyUnicode_Check(normalized)) {
            Py_DECREF(normalized);
            PyErr_SetString(PyExc_TypeError, "normalize must return str");
            goto error;
        }
        int status = normalized_words(self, normalized, words);
        Py_DECREF(normalized);
        if (status < 0) goto error;
    }
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
    return value == NULL ? NULL : PyTuple_Pack(1, value);
}

/* New tuple of the values of `word`'s pieces: greedy longest match first, "##" before word-internal pieces,
 * the unknown token alone where some position has no piece. */
static PyObject *split_word(Encoder *self, PyObject *word) {
    Py_ssize_t length = PyUnicode_GET_LENGTH(word);
    if (length > self->max_chars) return unknown(self);
    PyObject *value = PyDict_GetItemWithError(self->lookup, word);
    if (value != NULL) return PyTuple_Pack(1, value);
    if (PyErr_Occurred()) return NULL;
    int kind = PyUnicode_KIND(word);
    const char *data = PyUnicode_DATA(word);
    /* "##" followed by the rest of the word from the current start. */
    char *scratch = PyMem_Malloc((length + 2) * kind);
    PyObject *values = PyList_New(0);
    if (scratch == NULL || values == NULL) {
        PyMem_Free(scratch);
        Py_XDECREF(values);
        return PyErr_NoMemory();
    }
    for (int k = 0; k < 2; k++) {
        if (kind == PyUnicode_1BYTE_KIND) ((Py_UCS1 *)scratch)[k] = '#';
        else if (kind == PyUnicode_2BYTE_KIND) ((Py_UCS2 *)scratch)[k] = '#';
        else ((Py_UCS4 *)scratch)[k] = '#';
    }
    PyObject *result = NULL;
    Py_ssize_t start = 0;
    while (start < length) {
        Py_ssize_t prefix = start ? 2 : 0;
        Py_ssize_t end = start + self->longest - prefix;
        if (end > length) end = length;
        const char *source = data;
        if (start) {
            memcpy(scratch + 2 * kind, data + start * kind, (length - start) * kind);
            source = scratch;
        }
        PyObject *found = NULL;
        Py_ssize_t found_end = start;
        for (Py_ssize_t stop = start + 1; stop <= end; stop++) {
            PyObject *piece = PyUnicode_FromKindAndData(kind, source, stop - start + prefix);
            if (piece == NULL) goto done;
            PyObject *entry = PyDict_GetItemWithError(self->prefixes, piece);
            Py_DECREF(piece);
            if (entry == NULL) {
                if (PyErr_Occurred()) goto done;
                break;  /* no entry starts with this candidate, so none with a longer one */
            }
            if (entry != Py_None) {
                found = entry;
                found_end = stop;
            }
        }
        if (found == NULL) {
            result = unknown(self);
            goto done;
        }
        if (self->ids && (found = lookup_or_raise(self, found)) == NULL) goto done;
        if (PyList_Append(values, found) < 0) goto done;
        start = found_end;
    }
    result = PyList_AsTuple(values);
done:
    PyMem_Free(scratch);
    Py_DECREF(values);
    return result;
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
    .tp_new = PyType_GenericNew,
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
