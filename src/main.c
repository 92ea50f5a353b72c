/* chatd entry point (placeholder until the server core lands). */
#include <stdio.h>
int main(void)
{
    return 0;
}
