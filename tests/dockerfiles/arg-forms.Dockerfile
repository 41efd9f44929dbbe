FROM alpine
ARG A
ARG B=1 C=2
ARG D=$B-$C E="quoted value" F
LABEL a=$A b=$B c=$C d=$D e=$E f=$F
