ARG A=1 B=2
FROM alpine
ARG A B C=3 D
LABEL a=$A b=$B c=$C d=$D
