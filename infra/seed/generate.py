#!/usr/bin/env python3
"""Writes the demo data retail-local loads at start (stores, commodities, prices, stock).

Deterministic and stdlib only: run it again and the JSON files come out byte for byte the same.
Each file holds request bodies exactly as head office would send them to the API:

  stores.json       [{"storeId", "body": PUT /stores/{storeId} body}]
  commodities.json  [{"sku", "body": PUT /commodities/{sku} body}]
  prices.json       [POST /price-adjustments body, ...]
  stock.json        [{"storeId", "body": POST /stores/{storeId}/stock-movements body}] (<= 100 each)
  sales.json        [{"storeId", "localTime", "idempotencyKey", "payWith", "body"}] (dated yesterday at load)
  promotions.json   [{"promotionId", "days", "body": PUT /promotions/{promotionId} body without its
                    window}] (the loader runs each from now for `days` days)

Usage: python3 infra/seed/generate.py   (writes next to this script)
"""

import hashlib
import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))
COMMODITY_COUNT = 1000

STORES = [
    ("S001", "Binjiang", "EAST"),
    ("S002", "Xixi", "EAST"),
    ("S003", "Tianhe", "SOUTH"),
]

# The README walk-through relies on these.
MILK_BARCODE = "6901234567892"
APPLE_ITEM = "2112345"


def gs1_check(body):
    """GS1 check digit: weights 3,1,3,... from the right of the body."""
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body)))
    return str((10 - total % 10) % 10)


def with_check(body):
    return body + gs1_check(body)


def det(*parts):
    """A stable pseudo-random integer for a key (Python's random differs across versions)."""
    digest = hashlib.sha256("|".join(str(p) for p in parts).encode()).hexdigest()
    return int(digest[:12], 16)


def pick(lo, hi, *key):
    return lo + det(*key) % (hi - lo + 1)


class Barcodes:
    """Hands out unique, valid barcodes of each kind."""

    def __init__(self):
        self.ean13 = 0
        self.ean8 = 0
        self.upca = 0
        self.weighed = 100
        self.priced = 100
        self.taken = {MILK_BARCODE, APPLE_ITEM}

    def _unique(self, code):
        assert code not in self.taken, code
        self.taken.add(code)
        return code

    def next_ean13(self):
        self.ean13 += 1
        # 692...: GS1 China; never collides with the fixed 690... milk code.
        return self._unique(with_check("692%09d" % (100000000 + self.ean13 * 7919 % 900000000)))

    def next_ean8(self):
        self.ean8 += 1
        return self._unique(with_check("69%05d" % (10000 + self.ean8 * 37)))

    def next_upca(self):
        self.upca += 1
        # UPC-A, 12 digits (number system 0); stored by the API as its EAN-13 with a leading 0.
        return self._unique(with_check("07%09d" % (200000000 + self.upca * 104729)))

    def next_weighed(self):
        while True:
            self.weighed += 1
            code = "21%05d" % self.weighed
            if code not in self.taken:
                return self._unique(code)

    def next_priced(self):
        self.priced += 1
        return self._unique("23%05d" % self.priced)


# Category: (sku prefix, category name, unit, taxRateBp, kind, base price range in minor units)
# kind: "ean" manufacturer codes, "weighed" 21IIIII (kg), "priced" 23IIIII (each, label price)
CATEGORIES = [
    ("FRU", "fresh produce", "kg", 900, "weighed", (390, 3990)),
    ("VEG", "fresh produce", "kg", 900, "weighed", (190, 1590)),
    ("MEAT", "meat and seafood", "kg", 900, "weighed", (1990, 12990)),
    ("BAKE", "bakery", "each", 1300, "priced", (590, 3990)),
    ("DELI", "deli", "each", 1300, "priced", (990, 5990)),
    ("DAIRY", "dairy", "each", 900, "ean", (350, 6990)),
    ("BEV", "beverages", "each", 1300, "ean", (250, 8990)),
    ("SNK", "snacks", "each", 1300, "ean", (290, 4590)),
    ("PAN", "pantry", "each", 900, "ean", (390, 9990)),
    ("FRZ", "frozen", "each", 1300, "ean", (990, 6990)),
    ("HH", "household", "each", 1300, "ean", (490, 7990)),
    ("CARE", "personal care", "each", 1300, "ean", (590, 12990)),
]

FRUITS = ["Fuji Apple", "Gala Apple", "Korla Pear", "Ya Pear", "Navel Orange", "Ponkan Mandarin", "Shatang Mandarin",
          "Pomelo", "Banana", "Kyoho Grape", "Shine Muscat Grape", "Red Globe Grape", "Strawberry", "Blueberry",
          "Kiwifruit", "Dragon Fruit", "Mango", "Pineapple", "Hami Melon", "Watermelon", "Lychee", "Longan",
          "Peach", "Yellow Peach", "Plum", "Cherry", "Persimmon", "Jujube", "Loquat", "Lemon", "Coconut", "Durian",
          "Mangosteen", "Papaya", "Guava", "Avocado"]
VEGETABLES = ["Bok Choy", "Napa Cabbage", "Choy Sum", "Spinach", "Lettuce", "Celery", "Chinese Chives", "Leek",
              "Scallion", "Ginger", "Garlic", "Potato", "Sweet Potato", "Taro", "Yam", "Carrot", "White Radish",
              "Tomato", "Cherry Tomato", "Cucumber", "Eggplant", "Green Pepper", "Red Pepper", "Chili Pepper",
              "Broccoli", "Cauliflower", "Pumpkin", "Winter Melon", "Bitter Melon", "Loofah", "Lotus Root",
              "Bamboo Shoot", "Shiitake Mushroom", "Enoki Mushroom", "King Oyster Mushroom", "Wood Ear", "Corn",
              "Snow Peas", "Green Beans", "Edamame", "Onion", "Okra"]
MEATS = ["Pork Belly", "Pork Loin", "Pork Ribs", "Pork Shoulder", "Minced Pork", "Beef Brisket", "Beef Shank",
         "Beef Sirloin", "Minced Beef", "Lamb Leg", "Lamb Chops", "Whole Chicken", "Chicken Wings",
         "Chicken Drumsticks", "Chicken Breast", "Duck", "Large Yellow Croaker", "Hairtail", "Grass Carp",
         "Sea Bass", "Tilapia", "Mandarin Fish", "White Shrimp", "River Shrimp", "Clams", "Squid", "Salmon Fillet",
         "Crab", "Scallops", "Pomfret"]
BAKERY = ["Sourdough Loaf", "Whole Wheat Bread", "Milk Toast", "Croissants 4-pack", "Egg Tarts 6-pack",
          "Pork Floss Buns", "Red Bean Buns", "Mooncakes Box", "Chiffon Cake", "Cheesecake Slice", "Baguette",
          "Bagels 4-pack", "Swiss Roll", "Cream Puffs", "Muffins 4-pack", "Danish Pastries", "Brioche",
          "Walnut Bread", "Taro Bread", "Coconut Buns"]
DELI = ["Roast Duck Half", "Char Siu", "Soy Sauce Chicken", "Braised Beef", "Spiced Tofu", "Sushi Platter",
        "Dim Sum Box", "Cold Noodles", "Spring Rolls Box", "Fried Chicken Box", "Salad Bowl", "Dumplings Tray"]

BRANDS = {
    "DAIRY": ["Yili", "Mengniu", "Bright Dairy", "Junlebao", "New Hope", "Anchor", "Devondale", "Weichuan"],
    "BEV": ["Nongfu Spring", "Master Kong", "Wahaha", "Coca-Cola", "Pepsi", "Tsingtao", "Snow", "Budweiser",
            "Genki Forest", "Vita", "Jiaduobao", "Yeshu", "Chabaidao", "C'estbon", "Red Bull", "Nescafe"],
    "SNK": ["Want Want", "Three Squirrels", "Bestore", "Lay's", "Oishi", "Oreo", "Dove", "Leshi", "Qiaqia",
            "Liangpin", "Pocky", "Glico", "Dali Garden", "Wei Long"],
    "PAN": ["Haitian", "Lee Kum Kee", "Arawana", "Luhua", "Jinlongyu", "Wuchang", "Totole", "Laoganma",
            "Knorr", "Barilla", "Chuanqi", "Fulinmen", "Shinho", "Tai Tai Le"],
    "FRZ": ["Synear", "Wanchai Ferry", "Sanquan", "Anjoy", "Haidilao", "Bibigo", "Wall's", "Haagen-Dazs"],
    "HH": ["Liby", "Blue Moon", "Tide", "Ariel", "Vinda", "Hengan", "Mind Act Upon Mind", "Clean Wrap",
           "Walch", "Scotch-Brite", "Diaoshi", "Super"],
    "CARE": ["Colgate", "Darlie", "Yunnan Baiyao", "Head & Shoulders", "Pantene", "Safeguard", "Dove",
             "Nivea", "Gillette", "Kotex", "Sofy", "Oral-B"],
}

PRODUCTS = {
    "DAIRY": [("Fresh Milk", ["250ml", "950ml", "1.8L"]), ("Whole Milk UHT", ["250ml x12", "1L"]),
              ("Skim Milk", ["1L"]), ("Plain Yogurt", ["100g x8", "1kg"]), ("Strawberry Yogurt", ["100g x8"]),
              ("Drinking Yogurt", ["200g x10"]), ("Cheese Slices", ["200g"]), ("Butter", ["227g"]),
              ("Whipping Cream", ["250ml"]), ("Kids Milk", ["125ml x20"]), ("Eggs Free Range", ["10 pcs", "30 pcs"])],
    "BEV": [("Mineral Water", ["550ml", "1.5L", "550ml x24"]), ("Green Tea", ["500ml", "500ml x15"]),
            ("Iced Tea", ["500ml"]), ("Cola", ["330ml", "330ml x6", "2L"]), ("Lemon Soda", ["330ml x6"]),
            ("Lager Beer", ["330ml x6", "500ml"]), ("Sparkling Water", ["480ml", "480ml x15"]),
            ("Herbal Tea", ["310ml x6"]), ("Coconut Milk Drink", ["245ml x12"]), ("Orange Juice", ["1L"]),
            ("Energy Drink", ["250ml x6"]), ("Instant Coffee", ["48 sachets"]), ("Soy Milk", ["250ml x12"])],
    "SNK": [("Rice Crackers", ["520g"]), ("Potato Chips Original", ["70g", "135g"]), ("Potato Chips Cucumber", ["70g"]),
            ("Mixed Nuts", ["750g"]), ("Pistachios", ["500g"]), ("Sandwich Cookies", ["97g", "388g"]),
            ("Milk Chocolate", ["43g", "252g"]), ("Shrimp Chips", ["150g"]), ("Egg Rolls", ["300g"]),
            ("Seaweed Snack", ["4g x12"]), ("Spicy Strips", ["102g"]), ("Biscuit Sticks", ["55g"]),
            ("Beef Jerky", ["100g"]), ("Sunflower Seeds", ["308g"])],
    "PAN": [("Light Soy Sauce", ["500ml", "1.28L"]), ("Dark Soy Sauce", ["500ml"]), ("Oyster Sauce", ["510g"]),
            ("Rice Vinegar", ["500ml"]), ("Peanut Oil", ["1.8L", "5L"]), ("Rapeseed Oil", ["5L"]),
            ("Jasmine Rice", ["5kg"]), ("Northeast Rice", ["5kg", "10kg"]), ("Chili Crisp", ["280g"]),
            ("Chicken Bouillon", ["200g"]), ("Spaghetti", ["500g"]), ("Wheat Noodles", ["1kg"]),
            ("Flour", ["2.5kg"]), ("Hotpot Base", ["150g"]), ("Sesame Paste", ["300g"])],
    "FRZ": [("Pork Dumplings", ["1kg"]), ("Shrimp Wontons", ["500g"]), ("Glutinous Rice Balls", ["500g"]),
            ("Steamed Buns", ["600g"]), ("Chicken Nuggets", ["1kg"]), ("Ice Cream Tub", ["473ml"]),
            ("Ice Cream Bars", ["4 pcs"]), ("Fish Balls", ["500g"])],
    "HH": [("Laundry Detergent", ["2kg", "3kg"]), ("Laundry Pods", ["30 pcs"]), ("Dish Soap", ["1.5kg"]),
           ("Tissue Packs", ["10 packs"]), ("Toilet Roll", ["10 rolls", "27 rolls"]), ("Kitchen Towel", ["2 rolls"]),
           ("Garbage Bags", ["100 pcs"]), ("Cling Film", ["30m"]), ("Sponge Scourers", ["6 pcs"]),
           ("Floor Cleaner", ["2L"]), ("Disinfectant", ["1L"])],
    "CARE": [("Toothpaste", ["120g", "180g"]), ("Toothbrush", ["2 pcs"]), ("Shampoo", ["400ml", "750ml"]),
             ("Conditioner", ["400ml"]), ("Body Wash", ["720ml"]), ("Hand Soap", ["300ml"]),
             ("Razor Blades", ["4 pcs"]), ("Sanitary Pads", ["10 pcs"]), ("Face Cream", ["50ml"]),
             ("Mouthwash", ["500ml"])],
}

APPLIANCES = [
    ("FLASH-001", "Midea Rice Cooker 4L"),
    ("APPL-0002", "Supor Electric Kettle 1.5L"),
    ("APPL-0003", "Joyoung Soymilk Maker"),
    ("APPL-0004", "Bear Mini Steamer"),
    ("APPL-0005", "Philips Hair Dryer"),
]


def commodity(sku, name, unit, tax, category, barcodes, policy="track"):
    return {
        "sku": sku,
        "body": {
            "name": name,
            "unit": unit,
            "taxRateBp": tax,
            "barcodes": barcodes,
            "category": category,
            "stockPolicy": policy,
        },
    }


def build_commodities():
    codes = Barcodes()
    items = []
    base_price = {}

    def add(item, price):
        items.append(item)
        base_price[item["sku"]] = price

    add(commodity("MILK-1L", "Bright Dairy Fresh Milk 1L", "each", 900, "dairy", [MILK_BARCODE]), 1590)
    add(commodity("APPLE-FUJI", "Fuji Apple", "kg", 900, "fresh produce", [APPLE_ITEM]), 1290)
    for sku, name in APPLIANCES:
        price = pick(9900, 39900, "price", sku) // 100 * 100 + 99
        add(commodity(sku, name, "each", 1300, "small appliances", [codes.next_ean13()],
                      "strict" if sku == "FLASH-001" else "track"), price)

    per_category = {}
    for prefix, category, unit, tax, kind, (lo, hi) in CATEGORIES:
        names = []
        if kind == "weighed":
            source = {"FRU": FRUITS, "VEG": VEGETABLES, "MEAT": MEATS}[prefix]
            names = [n for n in source if n != "Fuji Apple"]
            names += ["Organic " + n for n in source[: len(source) // 2] if n != "Fuji Apple"]
        elif kind == "priced":
            names = BAKERY if prefix == "BAKE" else DELI
        else:
            for product, sizes in PRODUCTS[prefix]:
                for size in sizes:
                    for brand in BRANDS[prefix]:
                        names.append("%s %s %s" % (brand, product, size))
            # Interleave brands so any prefix of the list is a varied shelf.
            names.sort(key=lambda n: det("order", prefix, n))
        per_category[prefix] = (category, unit, tax, kind, lo, hi, names)

    # Fill up to COMMODITY_COUNT round-robin so every category is represented.
    cursors = {p: 0 for p in per_category}
    counters = {p: 0 for p in per_category}
    while len(items) < COMMODITY_COUNT:
        progressed = False
        for prefix, (category, unit, tax, kind, lo, hi, names) in per_category.items():
            if len(items) >= COMMODITY_COUNT:
                break
            if cursors[prefix] >= len(names):
                continue
            name = names[cursors[prefix]]
            cursors[prefix] += 1
            counters[prefix] += 1
            progressed = True
            sku = "%s-%04d" % (prefix, counters[prefix])
            if kind == "weighed":
                barcodes = [codes.next_weighed()]
            elif kind == "priced":
                barcodes = [codes.next_priced()]
            else:
                n = counters[prefix]
                if n % 17 == 0:
                    barcodes = [codes.next_upca()]
                elif n % 11 == 0:
                    barcodes = [codes.next_ean8()]
                elif n % 7 == 0:
                    # A multipack and its single unit code.
                    barcodes = [codes.next_ean13(), codes.next_ean13()]
                else:
                    barcodes = [codes.next_ean13()]
            price = pick(lo, hi, "price", sku) // 10 * 10
            add(commodity(sku, name, unit, tax, category, barcodes), price)
        if not progressed:
            raise SystemExit("not enough names to reach %d commodities" % COMMODITY_COUNT)
    return items, base_price


def chunks(seq, size):
    return [seq[i:i + size] for i in range(0, len(seq), size)]


def build_prices(items, base_price):
    skus = [c["sku"] for c in items]
    chain = {
        "batchId": "seed-chain-2026",
        "adjustments": [
            {"sku": sku, "scope": "chain", "amount": base_price[sku], "validFrom": "2026-01-01T00:00:00+08:00",
             "reason": "chain list price"}
            for sku in skus
        ],
    }
    east = [s for s in skus if det("east", s) % 10 == 0]
    region = {
        "batchId": "seed-region-east-2026",
        "adjustments": [
            {"sku": sku, "scope": "region:EAST", "amount": max(10, base_price[sku] * 95 // 100 // 10 * 10),
             "validFrom": "2026-03-01T00:00:00+08:00", "reason": "EAST regional price"}
            for sku in east
        ],
    }
    store_lines = []
    for store_id, _, _ in STORES:
        for sku in [s for s in skus if det("store", store_id, s) % 40 == 0]:
            store_lines.append({"sku": sku, "scope": "store:" + store_id,
                                "amount": max(10, base_price[sku] * 90 // 100 // 10 * 10),
                                "validFrom": "2026-06-01T00:00:00+08:00", "reason": "store clearance"})
    stores = {"batchId": "seed-store-prices-2026", "adjustments": store_lines}
    # Double 11 in Shanghai time: the flash-sale rice cooker and a tenth of the range.
    promo_skus = ["FLASH-001"] + [s for s in skus if s != "FLASH-001" and det("d11", s) % 10 == 0]
    double11 = {
        "batchId": "seed-double-11-2026",
        "adjustments": [
            {"sku": sku, "scope": "chain",
             "amount": 9900 if sku == "FLASH-001" else max(10, base_price[sku] * 80 // 100 // 10 * 10),
             "validFrom": "2026-11-11T00:00:00+08:00", "validTo": "2026-11-12T00:00:00+08:00",
             "reason": "Double 11 flash sale" if sku == "FLASH-001" else "Double 11"}
            for sku in promo_skus
        ],
    }
    # A members' promotion running through 2027, so a promotion is in force when the demo runs.
    member_skus = ["MILK-1L"] + [s for s in skus if s != "MILK-1L" and det("member", s) % 25 == 0]
    members = {
        "batchId": "seed-member-days-2027",
        "adjustments": [
            {"sku": sku, "scope": "chain", "amount": max(10, base_price[sku] * 88 // 100 // 10 * 10),
             "validFrom": "2026-11-01T00:00:00+08:00", "validTo": "2028-01-01T00:00:00+08:00",
             "reason": "member days"}
            for sku in member_skus
        ],
    }
    return [chain, region, stores, double11, members]


def build_stock(items):
    bodies = []
    for store_id, _, _ in STORES:
        movements = []
        for c in items:
            sku, unit = c["sku"], c["body"]["unit"]
            if sku == "FLASH-001":
                delta = 50
            elif unit == "kg":
                delta = pick(5, 80, "stock", store_id, sku) * 1000  # grams
            else:
                delta = pick(20, 400, "stock", store_id, sku)
            movements.append({"sku": sku, "delta": delta, "reason": "receipt"})
        for part in chunks(movements, 100):
            bodies.append({"storeId": store_id, "body": {"movements": part}})
    return bodies


SALES_PER_STORE = 40


def build_sales(items):
    """A day of till sales per store. Times are local clock times: retail-local places them on
    yesterday's business day of the store at start (an offline sale may be at most 72 h old),
    and pays each with the method named, computing the amount from the prices then in force."""
    each = [c["sku"] for c in items
            if c["body"]["unit"] == "each" and c["body"]["stockPolicy"] == "track"
            and not any(b.startswith("23") and len(b) == 7 for b in c["body"]["barcodes"])]
    kg = [c["sku"] for c in items if c["body"]["unit"] == "kg"]
    methods = ["cash", "card", "mobile"]
    sales = []
    for sid, _, _ in STORES:
        for n in range(SALES_PER_STORE):
            hour = pick(8, 21, sid, n, "hour")
            minute = pick(0, 59, sid, n, "minute")
            skus = []
            for k in range(pick(1, 5, sid, n, "lines")):
                sku = each[det(sid, n, k, "sku") % len(each)]
                if sku not in skus:
                    skus.append(sku)
            lines = [{"sku": sku, "quantity": pick(1, 3, sid, n, sku)} for sku in skus]
            if det(sid, n, "kg") % 10 < 3:
                lines.append({"sku": kg[det(sid, n, "kgsku") % len(kg)], "weightGrams": pick(200, 2000, sid, n, "g")})
            sales.append({
                "storeId": sid,
                "localTime": "%02d:%02d" % (hour, minute),
                "idempotencyKey": "seed-%s-%03d" % (sid, n),
                "payWith": methods[det(sid, n, "pay") % 3],
                "body": {"terminalId": "T%02d" % pick(1, 4, sid, n, "till"), "lines": lines},
            })
    return sales


def build_promotions():
    """The Double 11 basket promotions the walk-through shows: one of each kind."""
    return [
        {"promotionId": "spend-300-save-50", "days": 30, "body": {
            "name": "Every 300 spent, 50 off", "scope": "chain",
            "rule": {"kind": "spend_and_save", "threshold": 30000, "discount": 5000, "repeat": True}}},
        {"promotionId": "household-3-for-2", "days": 30, "body": {
            "name": "Household: buy 3, pay 2", "scope": "chain",
            "rule": {"kind": "multi_buy", "buy": 3, "free": 1, "categories": ["household"]}}},
        {"promotionId": "frozen-20-off", "days": 7, "body": {
            "name": "20 % off all frozen food", "scope": "region:EAST",
            "rule": {"kind": "percent_off", "percentBp": 2000, "categories": ["frozen"]}}},
    ]


def write(name, rows):
    """One JSON value per line inside the list: small diffs, still plain JSON."""
    path = os.path.join(HERE, name)
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.write("[\n")
        f.write(",\n".join(json.dumps(r, ensure_ascii=False, separators=(",", ":")) for r in rows))
        f.write("\n]\n")
    return os.path.getsize(path)


def main():
    stores = [{"storeId": sid, "body": {"name": name, "region": region, "timezone": "Asia/Shanghai"}}
              for sid, name, region in STORES]
    items, base_price = build_commodities()
    assert len(items) == COMMODITY_COUNT
    assert len({c["sku"] for c in items}) == COMMODITY_COUNT
    prices = build_prices(items, base_price)
    stock = build_stock(items)
    sizes = {
        "stores.json": write("stores.json", stores),
        "commodities.json": write("commodities.json", items),
        # A price batch is one request body: written whole, one per line.
        "prices.json": write("prices.json", prices),
        "stock.json": write("stock.json", stock),
        "sales.json": write("sales.json", build_sales(items)),
        "promotions.json": write("promotions.json", build_promotions()),
    }
    for name, size in sizes.items():
        print("%-17s %7d bytes" % (name, size))
    print("%-17s %7d bytes" % ("total", sum(sizes.values())))


if __name__ == "__main__":
    main()
