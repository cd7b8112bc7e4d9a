#define LIBA_LEVEL 1
