/* libgreet: the greeting every program should print */
#define GREETING "Hello from an apkfarm build!"
