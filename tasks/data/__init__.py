"""Data readers and writers: the preference-pair JSON-lines format and video decoding."""
