#define GREETING "hello from libgreet"
