/* oncesign stm32f405 — the registers this board touches, from ST's RM0090 (STM32F405/415/407/417
 * reference manual, rev. 19): addresses and bit positions only, named as the manual names them. */
#ifndef ONCESIGN_STM32F405_H
#define ONCESIGN_STM32F405_H

#include <stdint.h>

#define REG32(addr) (*(volatile uint32_t *)(uintptr_t)(addr))

/* ---- RCC (RM0090 §7.3) */
#define RCC_BASE        0x40023800u
#define RCC_CR          REG32(RCC_BASE + 0x00)
#define RCC_PLLCFGR     REG32(RCC_BASE + 0x04)
#define RCC_CFGR        REG32(RCC_BASE + 0x08)
#define RCC_AHB1ENR     REG32(RCC_BASE + 0x30)
#define RCC_AHB2ENR     REG32(RCC_BASE + 0x34)
#define RCC_APB1ENR     REG32(RCC_BASE + 0x40)
#define RCC_CR_HSEON    (1u << 16)
#define RCC_CR_HSERDY   (1u << 17)
#define RCC_CR_PLLON    (1u << 24)
#define RCC_CR_PLLRDY   (1u << 25)
#define RCC_PLLCFGR_SRC_HSE (1u << 22)
#define RCC_CFGR_SW_PLL     2u
#define RCC_CFGR_SWS_MASK   (3u << 2)
#define RCC_CFGR_SWS_PLL    (2u << 2)
#define RCC_CFGR_PPRE1_DIV4 (5u << 10)
#define RCC_CFGR_PPRE2_DIV2 (4u << 13)
#define RCC_AHB1ENR_GPIOAEN (1u << 0)
#define RCC_AHB1ENR_GPIOBEN (1u << 1)
#define RCC_AHB1ENR_GPIOCEN (1u << 2)
#define RCC_AHB2ENR_RNGEN   (1u << 6)
#define RCC_AHB2ENR_OTGFSEN (1u << 7)
#define RCC_APB1ENR_I2C1EN  (1u << 21)
#define RCC_APB1ENR_PWREN   (1u << 28)

/* ---- PWR (§5.4) */
#define PWR_CR          REG32(0x40007000u)
#define PWR_CR_VOS      (1u << 14)

/* ---- embedded flash interface (§3.9) */
#define FLASH_BASE_R    0x40023C00u
#define FLASH_ACR       REG32(FLASH_BASE_R + 0x00)
#define FLASH_KEYR      REG32(FLASH_BASE_R + 0x04)
#define FLASH_SR        REG32(FLASH_BASE_R + 0x0C)
#define FLASH_CR        REG32(FLASH_BASE_R + 0x10)
#define FLASH_ACR_LATENCY_5WS 5u
#define FLASH_ACR_PRFTEN  (1u << 8)
#define FLASH_ACR_ICEN    (1u << 9)
#define FLASH_ACR_DCEN    (1u << 10)
#define FLASH_ACR_ICRST   (1u << 11)
#define FLASH_ACR_DCRST   (1u << 12)
#define FLASH_KEY1        0x45670123u
#define FLASH_KEY2        0xCDEF89ABu
#define FLASH_SR_EOP      (1u << 0)
#define FLASH_SR_OPERR    (1u << 1)
#define FLASH_SR_WRPERR   (1u << 4)
#define FLASH_SR_PGAERR   (1u << 5)
#define FLASH_SR_PGPERR   (1u << 6)
#define FLASH_SR_PGSERR   (1u << 7)
#define FLASH_SR_BSY      (1u << 16)
#define FLASH_SR_ERRORS   (FLASH_SR_OPERR | FLASH_SR_WRPERR | FLASH_SR_PGAERR | FLASH_SR_PGPERR | FLASH_SR_PGSERR)
#define FLASH_CR_PG       (1u << 0)
#define FLASH_CR_SER      (1u << 1)
#define FLASH_CR_SNB(n)   ((uint32_t)(n) << 3)
#define FLASH_CR_PSIZE_X8  (0u << 8)
#define FLASH_CR_PSIZE_X32 (2u << 8)
#define FLASH_CR_STRT     (1u << 16)
#define FLASH_CR_LOCK     (1u << 31)

/* ---- RNG (§24.4) */
#define RNG_BASE        0x50060800u
#define RNG_CR          REG32(RNG_BASE + 0x00)
#define RNG_SR          REG32(RNG_BASE + 0x04)
#define RNG_DR          REG32(RNG_BASE + 0x08)
#define RNG_CR_RNGEN    (1u << 2)
#define RNG_SR_DRDY     (1u << 0)
#define RNG_SR_CECS     (1u << 1)
#define RNG_SR_SECS     (1u << 2)
#define RNG_SR_CEIS     (1u << 5)
#define RNG_SR_SEIS     (1u << 6)

/* ---- GPIO (§8.4) */
#define GPIOA_BASE      0x40020000u
#define GPIOB_BASE      0x40020400u
#define GPIOC_BASE      0x40020800u
#define GPIO_MODER(b)   REG32((b) + 0x00)
#define GPIO_OTYPER(b)  REG32((b) + 0x04)
#define GPIO_OSPEEDR(b) REG32((b) + 0x08)
#define GPIO_PUPDR(b)   REG32((b) + 0x0C)
#define GPIO_IDR(b)     REG32((b) + 0x10)
#define GPIO_AFRL(b)    REG32((b) + 0x20)
#define GPIO_AFRH(b)    REG32((b) + 0x24)

/* ---- I2C1 (§27.6) */
#define I2C1_BASE       0x40005400u
#define I2C_CR1         REG32(I2C1_BASE + 0x00)
#define I2C_CR2         REG32(I2C1_BASE + 0x04)
#define I2C_DR          REG32(I2C1_BASE + 0x10)
#define I2C_SR1         REG32(I2C1_BASE + 0x14)
#define I2C_SR2         REG32(I2C1_BASE + 0x18)
#define I2C_CCR         REG32(I2C1_BASE + 0x1C)
#define I2C_TRISE       REG32(I2C1_BASE + 0x20)
#define I2C_CR1_PE      (1u << 0)
#define I2C_CR1_START   (1u << 8)
#define I2C_CR1_STOP    (1u << 9)
#define I2C_CR1_SWRST   (1u << 15)
#define I2C_SR1_SB      (1u << 0)
#define I2C_SR1_ADDR    (1u << 1)
#define I2C_SR1_BTF     (1u << 2)
#define I2C_SR1_TXE     (1u << 7)
#define I2C_SR1_BERR    (1u << 8)
#define I2C_SR1_ARLO    (1u << 9)
#define I2C_SR1_AF      (1u << 10)

/* ---- SysTick (ARMv7-M ARM §B3.3) */
#define SYST_CSR        REG32(0xE000E010u)
#define SYST_RVR        REG32(0xE000E014u)
#define SYST_CVR        REG32(0xE000E018u)

/* ---- the 96-bit unique device id (§39.1) */
#define UID_BASE        0x1FFF7A10u

/* ---- USB OTG FS (§34.16), device mode only */
#define OTG_BASE        0x50000000u
#define OTG_GAHBCFG     REG32(OTG_BASE + 0x008)
#define OTG_GUSBCFG     REG32(OTG_BASE + 0x00C)
#define OTG_GRSTCTL     REG32(OTG_BASE + 0x010)
#define OTG_GINTSTS     REG32(OTG_BASE + 0x014)
#define OTG_GINTMSK     REG32(OTG_BASE + 0x018)
#define OTG_GRXSTSP     REG32(OTG_BASE + 0x020)
#define OTG_GRXFSIZ     REG32(OTG_BASE + 0x024)
#define OTG_DIEPTXF0    REG32(OTG_BASE + 0x028)
#define OTG_GCCFG       REG32(OTG_BASE + 0x038)
#define OTG_DIEPTXF1    REG32(OTG_BASE + 0x104)
#define OTG_DCFG        REG32(OTG_BASE + 0x800)
#define OTG_DCTL        REG32(OTG_BASE + 0x804)
#define OTG_DIEPMSK     REG32(OTG_BASE + 0x810)
#define OTG_DOEPMSK     REG32(OTG_BASE + 0x814)
#define OTG_DAINTMSK    REG32(OTG_BASE + 0x81C)
#define OTG_DIEPCTL(n)  REG32(OTG_BASE + 0x900 + 0x20u * (n))
#define OTG_DIEPINT(n)  REG32(OTG_BASE + 0x908 + 0x20u * (n))
#define OTG_DIEPTSIZ(n) REG32(OTG_BASE + 0x910 + 0x20u * (n))
#define OTG_DTXFSTS(n)  REG32(OTG_BASE + 0x918 + 0x20u * (n))
#define OTG_DOEPCTL(n)  REG32(OTG_BASE + 0xB00 + 0x20u * (n))
#define OTG_DOEPINT(n)  REG32(OTG_BASE + 0xB08 + 0x20u * (n))
#define OTG_DOEPTSIZ(n) REG32(OTG_BASE + 0xB10 + 0x20u * (n))
#define OTG_PCGCCTL     REG32(OTG_BASE + 0xE00)
#define OTG_FIFO(n)     REG32(OTG_BASE + 0x1000 + 0x1000u * (n))

#define OTG_GUSBCFG_TRDT(n)   ((uint32_t)(n) << 10)
#define OTG_GUSBCFG_FDMOD     (1u << 30)
#define OTG_GRSTCTL_CSRST     (1u << 0)
#define OTG_GRSTCTL_RXFFLSH   (1u << 4)
#define OTG_GRSTCTL_TXFFLSH   (1u << 5)
#define OTG_GRSTCTL_TXFNUM_ALL (0x10u << 6)
#define OTG_GRSTCTL_AHBIDL    (1u << 31)
#define OTG_GINT_RXFLVL       (1u << 4)
#define OTG_GINT_USBSUSP      (1u << 11)
#define OTG_GINT_USBRST       (1u << 12)
#define OTG_GINT_ENUMDNE      (1u << 13)
#define OTG_GINT_IEPINT       (1u << 18)
#define OTG_GINT_OEPINT       (1u << 19)
#define OTG_GCCFG_PWRDWN      (1u << 16)
#define OTG_GCCFG_NOVBUSSENS  (1u << 21)
#define OTG_DCFG_DSPD_FS      3u
#define OTG_DCFG_DAD(a)       ((uint32_t)(a) << 4)
#define OTG_DCFG_DAD_MASK     (0x7Fu << 4)
#define OTG_DCTL_SDIS         (1u << 1)
#define OTG_DCTL_CGINAK       (1u << 8)
#define OTG_EPCTL_USBAEP      (1u << 15)
#define OTG_EPCTL_EPTYP_INTR  (3u << 18)
#define OTG_EPCTL_STALL       (1u << 21)
#define OTG_EPCTL_TXFNUM(n)   ((uint32_t)(n) << 22)
#define OTG_EPCTL_CNAK        (1u << 26)
#define OTG_EPCTL_SNAK        (1u << 27)
#define OTG_EPCTL_SD0PID      (1u << 28)
#define OTG_EPCTL_EPENA       (1u << 31)
#define OTG_EPINT_XFRC        (1u << 0)
#define OTG_EPINT_STUP        (1u << 3)
#define OTG_TSIZ_PKTCNT1      (1u << 19)
#define OTG_TSIZ_STUPCNT3     (3u << 29)
#define OTG_RXSTS_EPNUM(s)    ((s) & 0xFu)
#define OTG_RXSTS_BCNT(s)     (((s) >> 4) & 0x7FFu)
#define OTG_RXSTS_PKTSTS(s)   (((s) >> 17) & 0xFu)
#define OTG_PKTSTS_OUT_DATA   2u
#define OTG_PKTSTS_SETUP_DATA 6u

#endif /* ONCESIGN_STM32F405_H */
