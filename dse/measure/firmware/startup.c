/* Reset for dse's measuring image: copy .data, zero .bss, enable the FPU where there is
 * one, then main(); the end is the Arm semihosting exit call with main's result. */
#include <stdint.h>

extern uint32_t __data_start__[], __data_end__[], __data_load__[];
extern uint32_t __bss_start__[], __bss_end__[], __stack_top__[];
int main(void);
void semihost_exit(int code);
void reset_handler(void);

static void fault_handler(void)
{
    semihost_exit(99); /* an unexpected exception: a failed run, never a silent hang */
}

__attribute__((section(".vectors"), used)) static void (*const vectors[16])(void) = {
    (void (*)(void))(uintptr_t)__stack_top__, reset_handler, fault_handler, fault_handler,
    fault_handler, fault_handler, fault_handler, 0, 0, 0, 0, fault_handler, fault_handler, 0,
    fault_handler, fault_handler,
};

void reset_handler(void)
{
    uint32_t *src = __data_load__, *dst;
    for (dst = __data_start__; dst < __data_end__; ++dst, ++src) {
        *dst = *src;
    }
    for (dst = __bss_start__; dst < __bss_end__; ++dst) {
        *dst = 0;
    }
#if defined(__ARM_FP)
    *(volatile uint32_t *)0xE000ED88u |= 0xFu << 20; /* CPACR: full access to CP10, CP11 */
    __asm volatile("dsb\n\tisb" ::: "memory");
#endif
    semihost_exit(main());
}
