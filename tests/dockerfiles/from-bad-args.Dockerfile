FROM alpine ASS name
