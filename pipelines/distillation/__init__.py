"""`bertprep distill`'s Beam side: reading transfer data and labelling it with the teacher."""
