   FROM alpine
	  RUN echo indented

        # indented comment
  LABEL x=1
