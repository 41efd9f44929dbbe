from alpine as Builder
run echo lower
From alpine
Copy --from=BUILDER a /b
eNv K=v
