"""Knowledge distillation of a fine-tuned classifier (the teacher) into a smaller one (the student), as the
BERT miniatures' "pre-trained distillation" does it: the teacher's logits on transfer data are the student's
soft targets.

One module per job: `teacher` (a teacher folder or SavedModel described and loaded, and any classifier read
from raw text), `loss` (the student's per-example loss), `student` (training on a labels folder, and
evaluating beside the teacher). Labelling transfer data at scale is a Beam pipeline
(`pipelines.distillation`); the labels folder's format is `formats.distillation_labels`.
"""
