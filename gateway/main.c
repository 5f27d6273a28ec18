/* placeholder: the daemon lands with the gateway work */
int main(void) { return 1; }