/* oncesign stm32f405 — OTG FS device driver (usb_otg.h). RM0090 §34.17 ("OTG_FS programming
 * model", device mode) is the reference for every step; the request decisions are all
 * firmware/usb_device.c's. Largest control answer is 64 bytes (usb_device.h), so the EP0 data stage
 * is one packet, plus a zero-length packet when the answer is exactly 64 bytes and shorter than
 * what the host asked for. */
#include "usb_otg.h"

#include <string.h>

#include "oncesign/status.h"
#include "stm32f405.h"

#define SPIN_LIMIT 1000000u

/* FIFO RAM is 320 words: RX 128 (a SETUP burst and two 64-byte packets with status words), TX0 and
 * TX1 16 words (one 64-byte packet) each. */
#define RX_FIFO_WORDS  128u
#define TX0_FIFO_WORDS 16u
#define TX1_FIFO_WORDS 16u

enum ep0_state { EP0_IDLE, EP0_DATA_IN, EP0_DATA_OUT, EP0_STATUS_IN, EP0_STATUS_OUT };

static struct {
    usb_device *dev;
    uint8_t setup_raw[8];
    usb_setup setup;
    enum ep0_state ep0;
    uint8_t ep0_buf[USB_EP0_SIZE];
    size_t ep0_out_len;
    int ep0_zlp_after;              /* a zero-length IN packet ends the data stage */
    uint8_t rx[OS_REPORT_SIZE];
    size_t rx_len;
    int rx_held;                    /* EP1 OUT holds a report the device has not accepted (NAKing) */
    int ep1_in_busy;
    int ep1_active;
} otg;

static int spin_until_set(volatile uint32_t *reg, uint32_t bits) {
    for (uint32_t i = 0; i < SPIN_LIMIT; i++) if ((*reg & bits) == bits) return 1;
    return 0;
}

static int spin_until_clear(volatile uint32_t *reg, uint32_t bits) {
    for (uint32_t i = 0; i < SPIN_LIMIT; i++) if ((*reg & bits) == 0) return 1;
    return 0;
}

static void fifo_write(unsigned ep, const uint8_t *data, size_t len) {
    for (size_t i = 0; i < len; i += 4) {
        uint32_t w = 0;
        for (size_t k = 0; k < 4 && i + k < len; k++) w |= (uint32_t)data[i + k] << (8 * k);
        OTG_FIFO(ep) = w;
    }
}

/* Reads a packet of bcnt bytes from the RX FIFO; bytes beyond cap are read and dropped. */
static void fifo_read(uint8_t *out, size_t cap, size_t bcnt) {
    for (size_t i = 0; i < bcnt; i += 4) {
        uint32_t w = OTG_FIFO(0);
        for (size_t k = 0; k < 4 && i + k < bcnt; k++) {
            if (i + k < cap) out[i + k] = (uint8_t)(w >> (8 * k));
        }
    }
}

static void ep0_arm_setup(void) {
    OTG_DOEPTSIZ(0) = OTG_TSIZ_STUPCNT3 | OTG_TSIZ_PKTCNT1 | 3u * 8u;
    OTG_DOEPCTL(0) |= OTG_EPCTL_EPENA;
}

static void ep0_arm_out(void) {
    OTG_DOEPTSIZ(0) = OTG_TSIZ_STUPCNT3 | OTG_TSIZ_PKTCNT1 | USB_EP0_SIZE;
    OTG_DOEPCTL(0) |= OTG_EPCTL_EPENA | OTG_EPCTL_CNAK;
}

static void ep0_send(const uint8_t *data, size_t len) {
    OTG_DIEPTSIZ(0) = OTG_TSIZ_PKTCNT1 | (uint32_t)len;
    OTG_DIEPCTL(0) |= OTG_EPCTL_EPENA | OTG_EPCTL_CNAK;
    fifo_write(0, data, len);
}

static void ep0_stall(void) {
    OTG_DIEPCTL(0) |= OTG_EPCTL_STALL;
    OTG_DOEPCTL(0) |= OTG_EPCTL_STALL;
    otg.ep0 = EP0_IDLE;
    ep0_arm_setup();
}

static void ep1_arm_out(void) {
    OTG_DOEPTSIZ(1) = OTG_TSIZ_PKTCNT1 | OS_REPORT_SIZE;
    OTG_DOEPCTL(1) |= OTG_EPCTL_EPENA | OTG_EPCTL_CNAK;
}

/* Follows the device's configuration and halt flags into the endpoint registers. */
static void sync_endpoints(void) {
    usb_device *d = otg.dev;
    if (usb_device_configured(d) && !otg.ep1_active) {
        OTG_DIEPCTL(1) = OTG_EPCTL_USBAEP | OTG_EPCTL_EPTYP_INTR | OTG_EPCTL_TXFNUM(1) | OTG_EPCTL_SD0PID |
                         OS_REPORT_SIZE;
        OTG_DOEPCTL(1) = OTG_EPCTL_USBAEP | OTG_EPCTL_EPTYP_INTR | OTG_EPCTL_SD0PID | OS_REPORT_SIZE;
        OTG_DAINTMSK |= (1u << 1) | (1u << 17);
        otg.ep1_active = 1;
        otg.ep1_in_busy = 0;
        otg.rx_held = 0;
        ep1_arm_out();
    } else if (!usb_device_configured(d) && otg.ep1_active) {
        OTG_DIEPCTL(1) &= ~OTG_EPCTL_USBAEP;
        OTG_DOEPCTL(1) &= ~OTG_EPCTL_USBAEP;
        otg.ep1_active = 0;
    }
    if (!otg.ep1_active) return;
    /* CLEAR_FEATURE(ENDPOINT_HALT) also resets the data toggle (USB 2.0 §9.4.5). */
    if (d->halted_in) OTG_DIEPCTL(1) |= OTG_EPCTL_STALL;
    else if (OTG_DIEPCTL(1) & OTG_EPCTL_STALL) OTG_DIEPCTL(1) = (OTG_DIEPCTL(1) & ~OTG_EPCTL_STALL) | OTG_EPCTL_SD0PID;
    if (d->halted_out) OTG_DOEPCTL(1) |= OTG_EPCTL_STALL;
    else if (OTG_DOEPCTL(1) & OTG_EPCTL_STALL) OTG_DOEPCTL(1) = (OTG_DOEPCTL(1) & ~OTG_EPCTL_STALL) | OTG_EPCTL_SD0PID;
}

/* Runs the request now that its data stage (if any) is in otg.ep0_buf. */
static void ep0_complete_request(const uint8_t *data, size_t data_len) {
    uint8_t answer[USB_EP0_SIZE];
    size_t answer_len = 0;
    int rc = usb_device_control(otg.dev, &otg.setup, data, data_len, answer, sizeof answer, &answer_len);
    if (rc != OS_OK) {
        /* OS_ERR_BUSY (a SET_REPORT while the OUT report is full) is stalled too: the host's HID
         * driver sends reports on the interrupt pipe, where the NAK is real. */
        ep0_stall();
        return;
    }
    if (otg.setup.request_type & 0x80) {
        otg.ep0_zlp_after = answer_len < otg.setup.length && answer_len == USB_EP0_SIZE;
        otg.ep0 = EP0_DATA_IN;
        ep0_send(answer, answer_len);
        return;
    }
    /* SET_ADDRESS: the OTG core itself answers the status stage from the old address, so the new one
     * goes into DCFG at once (RM0090 §34.17.5). */
    if ((otg.setup.request_type & 0x7F) == 0 && otg.setup.request == 5) {
        OTG_DCFG = (OTG_DCFG & ~OTG_DCFG_DAD_MASK) | OTG_DCFG_DAD(usb_device_address(otg.dev));
    }
    sync_endpoints();
    otg.ep0 = EP0_STATUS_IN;
    ep0_send(NULL, 0);
}

static void on_setup(void) {
    if (usb_setup_decode(otg.setup_raw, &otg.setup) != OS_OK) {
        ep0_stall();
        return;
    }
    if (!(otg.setup.request_type & 0x80) && otg.setup.length > 0) {
        if (otg.setup.length > USB_EP0_SIZE) {
            ep0_stall();
            return;
        }
        otg.ep0_out_len = 0;
        otg.ep0 = EP0_DATA_OUT;
        ep0_arm_out();
        return;
    }
    ep0_complete_request(NULL, 0);
}

static void on_bus_reset(void) {
    OTG_DCFG &= ~OTG_DCFG_DAD_MASK;
    for (unsigned n = 0; n < 2; n++) {
        OTG_DOEPCTL(n) |= OTG_EPCTL_SNAK;
        OTG_DIEPINT(n) = 0xFFFFFFFFu;
        OTG_DOEPINT(n) = 0xFFFFFFFFu;
    }
    OTG_DIEPCTL(1) &= ~OTG_EPCTL_USBAEP;
    OTG_DOEPCTL(1) &= ~OTG_EPCTL_USBAEP;
    OTG_GRSTCTL = OTG_GRSTCTL_TXFFLSH | OTG_GRSTCTL_TXFNUM_ALL;
    (void)spin_until_clear(&OTG_GRSTCTL, OTG_GRSTCTL_TXFFLSH);
    OTG_DAINTMSK = (1u << 0) | (1u << 16);
    OTG_DOEPMSK = OTG_EPINT_XFRC | OTG_EPINT_STUP;
    OTG_DIEPMSK = OTG_EPINT_XFRC;
    usb_device_reset(otg.dev);
    otg.ep0 = EP0_IDLE;
    otg.ep1_active = otg.ep1_in_busy = otg.rx_held = 0;
    ep0_arm_setup();
}

static void drain_rx_fifo(void) {
    while (OTG_GINTSTS & OTG_GINT_RXFLVL) {
        uint32_t st = OTG_GRXSTSP;
        unsigned ep = OTG_RXSTS_EPNUM(st), kind = OTG_RXSTS_PKTSTS(st);
        size_t bcnt = OTG_RXSTS_BCNT(st);
        if (kind == OTG_PKTSTS_SETUP_DATA) {
            fifo_read(otg.setup_raw, sizeof otg.setup_raw, bcnt);
        } else if (kind == OTG_PKTSTS_OUT_DATA && ep == 0) {
            size_t room = sizeof otg.ep0_buf - otg.ep0_out_len;
            fifo_read(otg.ep0_buf + otg.ep0_out_len, room, bcnt);
            otg.ep0_out_len += bcnt < room ? bcnt : room;
        } else if (kind == OTG_PKTSTS_OUT_DATA && ep == 1) {
            fifo_read(otg.rx, sizeof otg.rx, bcnt);
            otg.rx_len = bcnt < sizeof otg.rx ? bcnt : sizeof otg.rx;
        } else {
            fifo_read(NULL, 0, bcnt);   /* status entries carry no data; anything else is dropped */
        }
    }
}

static void serve_ep0(void) {
    uint32_t out = OTG_DOEPINT(0), in = OTG_DIEPINT(0);
    if (out & OTG_EPINT_STUP) {
        OTG_DOEPINT(0) = OTG_EPINT_STUP | OTG_EPINT_XFRC;
        on_setup();
        return;
    }
    if (out & OTG_EPINT_XFRC) {
        OTG_DOEPINT(0) = OTG_EPINT_XFRC;
        if (otg.ep0 == EP0_DATA_OUT) {
            if (otg.ep0_out_len == otg.setup.length) ep0_complete_request(otg.ep0_buf, otg.ep0_out_len);
            else ep0_stall();
        } else {
            otg.ep0 = EP0_IDLE;          /* the host's zero-length status packet */
            ep0_arm_setup();
        }
    }
    if (in & OTG_EPINT_XFRC) {
        OTG_DIEPINT(0) = OTG_EPINT_XFRC;
        if (otg.ep0 == EP0_DATA_IN && otg.ep0_zlp_after) {
            otg.ep0_zlp_after = 0;
            ep0_send(NULL, 0);
        } else if (otg.ep0 == EP0_DATA_IN) {
            otg.ep0 = EP0_STATUS_OUT;
            ep0_arm_out();
        } else {
            otg.ep0 = EP0_IDLE;
            ep0_arm_setup();
        }
    }
}

static void serve_ep1(void) {
    uint32_t out = OTG_DOEPINT(1), in = OTG_DIEPINT(1);
    uint8_t report[OS_REPORT_SIZE];
    if (out & OTG_EPINT_XFRC) {
        OTG_DOEPINT(1) = OTG_EPINT_XFRC;
        otg.rx_held = 1;
    }
    if (in & OTG_EPINT_XFRC) {
        OTG_DIEPINT(1) = OTG_EPINT_XFRC;
        otg.ep1_in_busy = 0;
    }
    if (otg.rx_held) {
        int rc = usb_device_receive(otg.dev, otg.rx, otg.rx_len);
        if (rc != OS_ERR_BUSY) {
            /* Accepted, or dropped as not 64 bytes, or refused by a halt: the endpoint takes the
             * next packet (a halt stalls it through sync_endpoints). */
            otg.rx_held = 0;
            ep1_arm_out();
        }
    }
    if (!otg.ep1_in_busy && usb_device_take_in(otg.dev, report) == 1) {
        OTG_DIEPTSIZ(1) = OTG_TSIZ_PKTCNT1 | OS_REPORT_SIZE;
        OTG_DIEPCTL(1) |= OTG_EPCTL_EPENA | OTG_EPCTL_CNAK;
        fifo_write(1, report, sizeof report);
        otg.ep1_in_busy = 1;
    }
}

void usb_otg_poll(void) {
    uint32_t st = OTG_GINTSTS;
    if (otg.dev == NULL) return;
    if (st & OTG_GINT_USBRST) {
        OTG_GINTSTS = OTG_GINT_USBRST;
        on_bus_reset();
    }
    if (st & OTG_GINT_ENUMDNE) {
        OTG_GINTSTS = OTG_GINT_ENUMDNE;
        OTG_DIEPCTL(0) &= ~0x3u;        /* MPSIZ 00: 64 bytes */
        OTG_DCTL |= OTG_DCTL_CGINAK;
    }
    if (st & OTG_GINT_USBSUSP) OTG_GINTSTS = OTG_GINT_USBSUSP;
    drain_rx_fifo();
    serve_ep0();
    if (otg.ep1_active) serve_ep1();
}

int usb_otg_init(usb_device *dev) {
    if (dev == NULL) return OS_ERR_ARG;
    memset(&otg, 0, sizeof otg);
    /* PA11 (DM) and PA12 (DP): alternate function 10, very high speed. */
    RCC_AHB1ENR |= RCC_AHB1ENR_GPIOAEN;
    GPIO_MODER(GPIOA_BASE) = (GPIO_MODER(GPIOA_BASE) & ~(0xFu << 22)) | (0xAu << 22);
    GPIO_OSPEEDR(GPIOA_BASE) |= 0xFu << 22;
    GPIO_AFRH(GPIOA_BASE) = (GPIO_AFRH(GPIOA_BASE) & ~(0xFFu << 12)) | (0xAAu << 12);
    RCC_AHB2ENR |= RCC_AHB2ENR_OTGFSEN;

    if (!spin_until_set(&OTG_GRSTCTL, OTG_GRSTCTL_AHBIDL)) return OS_ERR_IO;
    OTG_GRSTCTL = OTG_GRSTCTL_CSRST;
    if (!spin_until_clear(&OTG_GRSTCTL, OTG_GRSTCTL_CSRST)) return OS_ERR_IO;
    /* Device mode forced; turnaround 6 PHY clocks for an AHB of 168 MHz (RM0090 table 207). */
    OTG_GUSBCFG = (OTG_GUSBCFG & ~(0xFu << 10)) | OTG_GUSBCFG_FDMOD | OTG_GUSBCFG_TRDT(6);
    for (volatile uint32_t i = 0; i < 500000u; i++) { }   /* >= 25 ms for the forced mode (§34.16.4) */
    /* The transceiver on; VBUS not sensed (PA9 is free on this board; bus-powered anyway). */
    OTG_GCCFG = OTG_GCCFG_PWRDWN | OTG_GCCFG_NOVBUSSENS;
    OTG_PCGCCTL = 0;
    OTG_DCFG = OTG_DCFG_DSPD_FS;
    OTG_GRXFSIZ = RX_FIFO_WORDS;
    OTG_DIEPTXF0 = (TX0_FIFO_WORDS << 16) | RX_FIFO_WORDS;
    OTG_DIEPTXF1 = (TX1_FIFO_WORDS << 16) | (RX_FIFO_WORDS + TX0_FIFO_WORDS);
    OTG_GRSTCTL = OTG_GRSTCTL_TXFFLSH | OTG_GRSTCTL_TXFNUM_ALL;
    if (!spin_until_clear(&OTG_GRSTCTL, OTG_GRSTCTL_TXFFLSH)) return OS_ERR_IO;
    OTG_GRSTCTL = OTG_GRSTCTL_RXFFLSH;
    if (!spin_until_clear(&OTG_GRSTCTL, OTG_GRSTCTL_RXFFLSH)) return OS_ERR_IO;
    /* Status bits are polled; GAHBCFG.GINTMSK stays 0, so nothing reaches the NVIC. The masks still
     * matter: the core ORs only unmasked endpoint events into DAINT/GINTSTS. */
    OTG_GINTSTS = 0xFFFFFFFFu;
    OTG_GINTMSK = OTG_GINT_RXFLVL | OTG_GINT_USBSUSP | OTG_GINT_USBRST | OTG_GINT_ENUMDNE | OTG_GINT_IEPINT |
                  OTG_GINT_OEPINT;
    OTG_GAHBCFG = 0;
    otg.dev = dev;
    OTG_DCTL &= ~OTG_DCTL_SDIS;          /* connect: the pull-up on D+ tells the host we are here */
    return OS_OK;
}
