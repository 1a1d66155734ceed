/* Masked-LM choices for a batch of instances, compiled.
 *
 * The twin of pipelines.pretraining.masking.mask_tokens, which stays for installs
 * without a C compiler (tests check both give the same arrays). The numpy path
 * draws a 64-bit key for every position of every row and partitions them,
 * building temporaries as large as the batch; a loop per row needs none.
 * benchmarks/RESULTS.md has the measured difference.
 *
 * mask_tokens(rows, width, ids, candidate, wanted, seeds, max_predictions, mask_id, vocab_size, mask_below,
 *             kept_of_unmasked) -> (positions, labels)
 *   ids: int64 [rows, width], C-contiguous, masked in place; candidate: bool [rows, width];
 *   wanted: int64 [rows]; seeds: uint64 [rows]; mask_below, kept_of_unmasked: the 80/10/10 rule's
 *   thresholds (formats.masking). Returns bytes of int64 [rows, max_predictions] each.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

/* The stream numbers and SplitMix64 of pipelines.pretraining.instances.random_words. */
enum { PICK = 1, DECIDE = 2, KEEP = 3, REPLACE = 4 };
static const uint64_t GOLDEN = 0x9E3779B97F4A7C15ull;

static uint64_t mix(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static uint64_t word(uint64_t seed, uint64_t stream, uint64_t column) {
    return mix(mix(seed + stream * GOLDEN) + (column + 1) * GOLDEN);
}

static double uniform(uint64_t value) { return (double)(value >> 11) * (1.0 / 9007199254740992.0); }

/* Keeps smallest[0..kept) the `limit` smallest keys seen, ascending: insertion into a short sorted array,
 * where most keys fail the first comparison (a full sort of every row's keys cost 4x more). */
static Py_ssize_t keep_smallest(uint64_t *smallest, Py_ssize_t kept, Py_ssize_t limit, uint64_t key) {
    if (kept == limit && key >= smallest[kept - 1]) return kept;
    Py_ssize_t at = kept < limit ? kept++ : kept - 1;
    while (at > 0 && smallest[at - 1] > key) {
        smallest[at] = smallest[at - 1];
        at--;
    }
    smallest[at] = key;
    return kept;
}

static int get(PyObject *object, Py_buffer *view, Py_ssize_t bytes, const char *name, int writable) {
    if (PyObject_GetBuffer(object, view, PyBUF_C_CONTIGUOUS | (writable ? PyBUF_WRITABLE : 0)) < 0) return -1;
    if (view->len != bytes) {
        PyErr_Format(PyExc_ValueError, "%s: %zd bytes, %zd expected", name, view->len, bytes);
        PyBuffer_Release(view);
        return -1;
    }
    return 0;
}

static PyObject *mask_tokens(PyObject *self, PyObject *args) {
    PyObject *ids_object, *candidate_object, *wanted_object, *seeds_object;
    Py_ssize_t rows, width, max_predictions;
    long long mask_id, vocab_size;
    double mask_below, kept_of_unmasked;
    if (!PyArg_ParseTuple(args, "nnOOOOnLLdd", &rows, &width, &ids_object, &candidate_object, &wanted_object,
                          &seeds_object, &max_predictions, &mask_id, &vocab_size, &mask_below, &kept_of_unmasked))
        return NULL;
    if (vocab_size <= 0 || max_predictions < 0) {
        PyErr_SetString(PyExc_ValueError, "vocab_size must be positive and max_predictions not negative");
        return NULL;
    }
    Py_buffer ids, candidate, wanted, seeds;
    if (get(ids_object, &ids, rows * width * 8, "ids", 1) < 0) return NULL;
    if (get(candidate_object, &candidate, rows * width, "candidate", 0) < 0) goto release_ids;
    if (get(wanted_object, &wanted, rows * 8, "wanted", 0) < 0) goto release_candidate;
    if (get(seeds_object, &seeds, rows * 8, "seeds", 0) < 0) goto release_wanted;
    PyObject *positions = PyBytes_FromStringAndSize(NULL, rows * max_predictions * 8);
    PyObject *labels = PyBytes_FromStringAndSize(NULL, rows * max_predictions * 8);
    uint64_t *keys = PyMem_Malloc((width ? width : 1) * 2 * sizeof(uint64_t));
    if (!positions || !labels || !keys) {
        Py_XDECREF(positions);
        Py_XDECREF(labels);
        PyMem_Free(keys);
        PyErr_NoMemory();
        goto release_all;
    }
    uint64_t *sorted = keys + (width ? width : 1);
    int64_t *out_positions = (int64_t *)PyBytes_AS_STRING(positions), *out_labels = (int64_t *)PyBytes_AS_STRING(labels);
    memset(out_positions, 0, rows * max_predictions * 8);
    memset(out_labels, 0, rows * max_predictions * 8);
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t row = 0; row < rows; row++) {
        int64_t *row_ids = (int64_t *)ids.buf + row * width;
        const uint8_t *row_candidate = (const uint8_t *)candidate.buf + row * width;
        int64_t row_wanted = ((const int64_t *)wanted.buf)[row];
        uint64_t seed = ((const uint64_t *)seeds.buf)[row];
        if (row_wanted <= 0) continue;
        /* The wanted candidates with the smallest PICK keys (a uniform subset); equal keys are all taken. */
        Py_ssize_t limit = row_wanted < width ? row_wanted : width, kept = 0;
        for (Py_ssize_t column = 0; column < width; column++)
            if (row_candidate[column]) kept = keep_smallest(sorted, kept, limit, keys[column] = word(seed, PICK, column));
        if (kept == 0) continue;
        uint64_t bound = sorted[kept - 1];
        Py_ssize_t predictions = 0;
        for (Py_ssize_t column = 0; column < width; column++) {
            if (!row_candidate[column] || keys[column] > bound) continue;
            if (predictions < max_predictions) {
                out_positions[row * max_predictions + predictions] = column;
                out_labels[row * max_predictions + predictions] = row_ids[column];
                predictions++;
            }
            /* [MASK], kept or a random vocabulary entry: 80/10/10. */
            if (uniform(word(seed, DECIDE, column)) < mask_below)
                row_ids[column] = mask_id;
            else if (!(uniform(word(seed, KEEP, column)) < kept_of_unmasked))
                row_ids[column] = (int64_t)(word(seed, REPLACE, column) % (uint64_t)vocab_size);
        }
    }
    Py_END_ALLOW_THREADS
    PyMem_Free(keys);
    PyBuffer_Release(&seeds);
    PyBuffer_Release(&wanted);
    PyBuffer_Release(&candidate);
    PyBuffer_Release(&ids);
    return Py_BuildValue("NN", positions, labels);
release_all:
    PyBuffer_Release(&seeds);
release_wanted:
    PyBuffer_Release(&wanted);
release_candidate:
    PyBuffer_Release(&candidate);
release_ids:
    PyBuffer_Release(&ids);
    return NULL;
}

static PyMethodDef methods[] = {
    {"mask_tokens", mask_tokens, METH_VARARGS,
     "mask_tokens(rows, width, ids, candidate, wanted, seeds, max_predictions, mask_id, vocab_size, mask_below, "
     "kept_of_unmasked) -> (positions, labels) as bytes of int64; ids are masked in place."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_masking", NULL, -1, methods};

PyMODINIT_FUNC PyInit__masking(void) { return PyModule_Create(&module); }
