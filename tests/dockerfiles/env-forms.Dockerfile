FROM alpine
ENV A=1 B="two words" C='single $A' D=$A E=${A}x
ENV LEGACY value with   spaces
ENV ESCAPED=\$A QUOTED="a\"b"
WORKDIR /$B
