FROM alpine AS build
