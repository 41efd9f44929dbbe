FROM alpine AS 1abc
