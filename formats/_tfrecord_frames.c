/* Serialized tf.train.Examples in TFRecord frames, many rows per call.
 *
 * The compiled twin of formats/tfrecord.py's numpy encoder (same
 * bytes, checked by tests/formats/test_tfrecord.py against TensorFlow and the
 * numpy path). Encoding is a per-value loop of varints and CRCs, which numpy
 * can only express with many temporaries; a plain loop over the values writes
 * the frames directly. benchmarks/RESULTS.md has the measured difference.
 *
 * frame_examples(rows, features) -> (data: bytes, ends: bytes of int64 LE)
 *   features: a list of (name: bytes, is_float: bool, columns: int, values),
 *   sorted by name; values is a C-contiguous buffer of rows * columns int64
 *   (each in [0, 2**35)) or float32 numbers.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

static uint32_t crc_table[8][256];

static void crc_init(void) {
    for (uint32_t byte = 0; byte < 256; byte++) {
        uint32_t crc = byte;
        for (int bit = 0; bit < 8; bit++) crc = (crc >> 1) ^ (0x82F63B78u & (0u - (crc & 1u)));
        crc_table[0][byte] = crc;
    }
    for (int slice = 1; slice < 8; slice++)
        for (int byte = 0; byte < 256; byte++)
            crc_table[slice][byte] = (crc_table[slice - 1][byte] >> 8) ^ crc_table[0][crc_table[slice - 1][byte] & 0xFF];
}

/* CRC32C (Castagnoli), slicing by 8: portable; crc32c() uses the SSE4.2 instruction where the CPU has it. */
static uint32_t crc32c_portable(const uint8_t *data, size_t size) {
    uint32_t crc = 0xFFFFFFFFu;
    while (size >= 8) {
        uint32_t low = crc ^ ((uint32_t)data[0] | (uint32_t)data[1] << 8 | (uint32_t)data[2] << 16 | (uint32_t)data[3] << 24);
        crc = crc_table[7][low & 0xFF] ^ crc_table[6][(low >> 8) & 0xFF] ^ crc_table[5][(low >> 16) & 0xFF] ^
              crc_table[4][low >> 24] ^ crc_table[3][data[4]] ^ crc_table[2][data[5]] ^ crc_table[1][data[6]] ^
              crc_table[0][data[7]];
        data += 8;
        size -= 8;
    }
    while (size--) crc = (crc >> 8) ^ crc_table[0][(crc ^ *data++) & 0xFF];
    return ~crc;
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <nmmintrin.h>
__attribute__((target("sse4.2"))) static uint32_t crc32c_sse42(const uint8_t *data, size_t size) {
    uint64_t crc = 0xFFFFFFFFu;
    for (; size >= 8; data += 8, size -= 8) {
        uint64_t word;
        memcpy(&word, data, 8);
        crc = _mm_crc32_u64(crc, word);
    }
    uint32_t low = (uint32_t)crc;
    while (size--) low = _mm_crc32_u8(low, *data++);
    return ~low;
}
static int has_sse42;
static void crc_dispatch_init(void) { has_sse42 = __builtin_cpu_supports("sse4.2"); }
static uint32_t crc32c(const uint8_t *data, size_t size) {
    return has_sse42 ? crc32c_sse42(data, size) : crc32c_portable(data, size);
}
#else
static void crc_dispatch_init(void) {}
static uint32_t crc32c(const uint8_t *data, size_t size) { return crc32c_portable(data, size); }
#endif

static uint32_t masked_crc(const uint8_t *data, size_t size) {
    uint32_t crc = crc32c(data, size);
    return ((crc >> 15) | (crc << 17)) + 0xA282EAD8u;
}

static size_t varint_size(uint64_t value) {
    /* 1 + (index of the highest set bit) / 7, without a loop */
    return 1 + (63 - __builtin_clzll(value | 1)) / 7;
}

static uint8_t *put_varint(uint8_t *out, uint64_t value) {
    while (value >= 0x80) {
        *out++ = (uint8_t)(value | 0x80);
        value >>= 7;
    }
    *out++ = (uint8_t)value;
    return out;
}

static uint8_t *put_le(uint8_t *out, uint64_t value, int bytes) {
    for (int i = 0; i < bytes; i++) out[i] = (uint8_t)(value >> (8 * i));
    return out + bytes;
}

typedef struct {
    const char *name;
    Py_ssize_t name_size;
    int is_float;
    Py_ssize_t columns;
    Py_buffer values;
} Feature;

/* A feature's map entry: {1: name, 2: Feature{3: Int64List | 2: FloatList {1: packed values}}}; an empty
 * list is an empty message. entry_size() is the whole entry with its tag and length. */
static size_t body_size(const Feature *f, size_t payload) {
    size_t key = 1 + varint_size(f->name_size) + f->name_size;
    size_t list = payload ? 1 + varint_size(payload) + payload : 0;
    size_t feature = 1 + varint_size(list) + list;
    return key + 1 + varint_size(feature) + feature;
}

static size_t payload_size(const Feature *f, Py_ssize_t row) {
    if (f->is_float) return 4 * (size_t)f->columns;
    const int64_t *values = (const int64_t *)f->values.buf + row * f->columns;
    size_t size = 0;
    for (Py_ssize_t i = 0; i < f->columns; i++) size += varint_size((uint64_t)values[i]);
    return size;
}

static uint8_t *put_entry(uint8_t *out, const Feature *f, Py_ssize_t row, size_t payload) {
    size_t list = payload ? 1 + varint_size(payload) + payload : 0;
    *out++ = 0x0A;
    out = put_varint(out, body_size(f, payload));
    *out++ = 0x0A;
    out = put_varint(out, f->name_size);
    memcpy(out, f->name, f->name_size);
    out += f->name_size;
    *out++ = 0x12;
    out = put_varint(out, 1 + varint_size(list) + list);
    *out++ = f->is_float ? 0x12 : 0x1A;
    out = put_varint(out, list);
    if (!payload) return out;
    *out++ = 0x0A;
    out = put_varint(out, payload);
    if (f->is_float) {
        const float *values = (const float *)f->values.buf + row * f->columns;
        for (Py_ssize_t i = 0; i < f->columns; i++) {
            uint32_t bits;
            memcpy(&bits, &values[i], 4);
            out = put_le(out, bits, 4);
        }
    } else {
        const int64_t *values = (const int64_t *)f->values.buf + row * f->columns;
        for (Py_ssize_t i = 0; i < f->columns; i++) out = put_varint(out, (uint64_t)values[i]);
    }
    return out;
}

static void release(Feature *features, Py_ssize_t count) {
    for (Py_ssize_t i = 0; i < count; i++) PyBuffer_Release(&features[i].values);
    PyMem_Free(features);
}

static PyObject *frame_examples(PyObject *self, PyObject *args) {
    Py_ssize_t rows;
    PyObject *list;
    if (!PyArg_ParseTuple(args, "nO!", &rows, &PyList_Type, &list)) return NULL;
    Py_ssize_t count = PyList_GET_SIZE(list);
    Feature *features = PyMem_Calloc(count ? count : 1, sizeof(Feature));
    if (!features) return PyErr_NoMemory();
    Py_ssize_t held = 0;
    for (; held < count; held++) {
        Feature *f = &features[held];
        PyObject *values;
        if (!PyArg_ParseTuple(PyList_GET_ITEM(list, held), "y#pnO", &f->name, &f->name_size, &f->is_float,
                              &f->columns, &values))
            goto fail;
        if (PyObject_GetBuffer(values, &f->values, PyBUF_C_CONTIGUOUS) < 0) goto fail;
        if (f->values.len != rows * f->columns * (f->is_float ? 4 : 8)) {
            PyBuffer_Release(&f->values);
            PyErr_Format(PyExc_ValueError, "feature %s: %zd bytes of values, %zd rows x %zd columns expected",
                         f->name, f->values.len, rows, f->columns);
            goto fail;
        }
    }
    /* Pass 1: every record's size. */
    size_t *payloads = PyMem_Malloc((rows * count ? rows * count : 1) * sizeof(size_t));
    PyObject *ends = PyBytes_FromStringAndSize(NULL, rows * 8);
    if (!payloads || !ends) {
        PyMem_Free(payloads);
        Py_XDECREF(ends);
        PyErr_NoMemory();
        goto fail;
    }
    size_t total = 0;
    uint8_t *end_out = (uint8_t *)PyBytes_AS_STRING(ends);
    for (Py_ssize_t row = 0; row < rows; row++) {
        size_t example = 0;
        for (Py_ssize_t i = 0; i < count; i++) {
            size_t payload = payload_size(&features[i], row);
            payloads[row * count + i] = payload;
            size_t body = body_size(&features[i], payload);
            example += 1 + varint_size(body) + body;
        }
        total += 8 + 4 + 1 + varint_size(example) + example + 4;
        end_out = put_le(end_out, total, 8);
    }
    /* Pass 2: the bytes. */
    PyObject *data = PyBytes_FromStringAndSize(NULL, total);
    if (!data) {
        PyMem_Free(payloads);
        Py_DECREF(ends);
        goto fail;
    }
    uint8_t *out = (uint8_t *)PyBytes_AS_STRING(data);
    for (Py_ssize_t row = 0; row < rows; row++) {
        size_t example = 0;
        for (Py_ssize_t i = 0; i < count; i++) {
            size_t body = body_size(&features[i], payloads[row * count + i]);
            example += 1 + varint_size(body) + body;
        }
        uint8_t *frame = out;
        out = put_le(out, 1 + varint_size(example) + example, 8);
        out = put_le(out, masked_crc(frame, 8), 4);
        uint8_t *record = out;
        *out++ = 0x0A;
        out = put_varint(out, example);
        for (Py_ssize_t i = 0; i < count; i++) out = put_entry(out, &features[i], row, payloads[row * count + i]);
        out = put_le(out, masked_crc(record, out - record), 4);
    }
    PyMem_Free(payloads);
    release(features, count);
    PyObject *result = Py_BuildValue("NN", data, ends);
    return result;
fail:
    release(features, held);
    return NULL;
}

static PyMethodDef methods[] = {
    {"frame_examples", frame_examples, METH_VARARGS,
     "frame_examples(rows, [(name, is_float, columns, values), ...]) -> (data, ends): TFRecord-framed "
     "tf.train.Examples of every row, and each record's end as int64 little-endian."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_tfrecord_frames", NULL, -1, methods};

PyMODINIT_FUNC PyInit__tfrecord_frames(void) {
    crc_init();
    crc_dispatch_init();
    return PyModule_Create(&module);
}
