/* A C program built with musl-gcc -static: another libc, other syscalls
 * (writev for stdio, no rseq, its own malloc). Prints its argv, sorts some
 * numbers, formats, and echoes stdin line by line. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int compare_ints(const void* left, const void* right) {
  const int a = *(const int*)left;
  const int b = *(const int*)right;
  return (a > b) - (a < b);
}

int main(int argc, char** argv) {
  printf("musl: argc=%d\n", argc);
  for (int i = 1; i < argc; ++i) printf("arg %d: %s\n", i, argv[i]);

  enum { kCount = 10000 };
  int* numbers = malloc(kCount * sizeof *numbers);
  if (numbers == NULL) return 1;
  unsigned state = 12345u;
  for (int i = 0; i < kCount; ++i) {
    state = state * 1103515245u + 12345u;
    numbers[i] = (int)(state >> 8) % 100000;
  }
  qsort(numbers, kCount, sizeof *numbers, compare_ints);
  printf("min=%d max=%d median=%d\n", numbers[0], numbers[kCount - 1], numbers[kCount / 2]);
  free(numbers);

  char line[256];
  int lines = 0;
  while (fgets(line, sizeof line, stdin) != NULL) {
    line[strcspn(line, "\n")] = '\0';
    printf("stdin %d: %s\n", ++lines, line);
  }
  printf("%s|%8.3f|%-5s|%#x\n", "fmt", 3.14159, "ab", 255);
  return 0;
}
