"""What crosses between the stages, in neither Beam nor TensorFlow: the pretraining-data metadata and
feature spec, the TFRecord/Example encoder, and the names of the files the stages hand on."""
