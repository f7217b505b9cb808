// Column types (abi/SPEC.md §4.3), fields and schemas.

/** The physical kind of a column type. */
export enum TypeId {
  Invalid = 0,
  Bool,
  Int8,
  Int16,
  Int32,
  Int64,
  Uint8,
  Uint16,
  Uint32,
  Uint64,
  Float32,
  Float64,
  Utf8,
  Binary,
  Timestamp,
  Date32,
}

const typeNames: string[] = [
  "invalid", "bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
  "float32", "float64", "utf8", "binary", "timestamp", "date32",
];

const typeFormats: string[] = [
  "", "b", "c", "s", "i", "l", "C", "S", "I", "L", "f", "g", "u", "z", "", "tdD",
];

/** Byte width of the values of fixed-width types (0 for bool, utf8, binary). */
export function byteWidth(id: TypeId): i32 {
  switch (id) {
    case TypeId.Int8: case TypeId.Uint8: return 1;
    case TypeId.Int16: case TypeId.Uint16: return 2;
    case TypeId.Int32: case TypeId.Uint32: case TypeId.Float32: case TypeId.Date32: return 4;
    case TypeId.Int64: case TypeId.Uint64: case TypeId.Float64: case TypeId.Timestamp: return 8;
  }
  return 0;
}

/** Time units of timestamps. */
export enum TimeUnit {
  Second = 0x73, // 's'
  Millisecond = 0x6d, // 'm'
  Microsecond = 0x75, // 'u'
  Nanosecond = 0x6e, // 'n'
}

function unitName(u: TimeUnit): string {
  switch (u) {
    case TimeUnit.Second: return "s";
    case TimeUnit.Millisecond: return "ms";
    case TimeUnit.Microsecond: return "us";
    case TimeUnit.Nanosecond: return "ns";
  }
  return "?";
}

/**
 * A column type, identified by its Arrow C Data format string ("l" for
 * int64, "tsm:UTC" for timestamp[ms, UTC], ...).
 */
export class DataType {
  static readonly Bool: DataType = new DataType("b");
  static readonly Int8: DataType = new DataType("c");
  static readonly Int16: DataType = new DataType("s");
  static readonly Int32: DataType = new DataType("i");
  static readonly Int64: DataType = new DataType("l");
  static readonly Uint8: DataType = new DataType("C");
  static readonly Uint16: DataType = new DataType("S");
  static readonly Uint32: DataType = new DataType("I");
  static readonly Uint64: DataType = new DataType("L");
  static readonly Float32: DataType = new DataType("f");
  static readonly Float64: DataType = new DataType("g");
  static readonly Utf8: DataType = new DataType("u");
  static readonly Binary: DataType = new DataType("z");
  static readonly Date32: DataType = new DataType("tdD");
  /** timestamp[s] without a time zone. */
  static readonly TimestampS: DataType = new DataType("tss:");
  /** timestamp[ms] without a time zone. */
  static readonly TimestampMs: DataType = new DataType("tsm:");
  /** timestamp[us] without a time zone. */
  static readonly TimestampUs: DataType = new DataType("tsu:");
  /** timestamp[ns] without a time zone. */
  static readonly TimestampNs: DataType = new DataType("tsn:");

  /** The Arrow format string. */
  readonly format: string;
  /** The physical kind; TypeId.Invalid for an unsupported format. */
  readonly id: TypeId;

  constructor(format: string) {
    this.format = format;
    this.id = idOf(format);
  }

  /** A timestamp type with the given unit and time zone ("" for none). */
  static timestamp(unit: TimeUnit, tz: string = ""): DataType {
    return new DataType("ts" + String.fromCharCode(<i32>unit) + ":" + tz);
  }

  /** Whether the format is one of ABI v1's. */
  get valid(): bool { return this.id != TypeId.Invalid; }

  /** The time unit of a timestamp type. */
  get unit(): TimeUnit {
    assert(this.id == TypeId.Timestamp, "DataType.unit: not a timestamp");
    return <TimeUnit>this.format.charCodeAt(2);
  }

  /** The time zone of a timestamp type ("" if none). */
  get timeZone(): string {
    return this.id == TypeId.Timestamp ? this.format.substring(4) : "";
  }

  /** Whether two types are the same (same format). */
  equals(other: DataType): bool { return this.format == other.format; }

  /** The type's name as in schema strings: "int64", "timestamp[ms, UTC]". */
  toString(): string {
    if (this.id == TypeId.Timestamp) {
      const tz = this.timeZone;
      return "timestamp[" + unitName(this.unit) + (tz.length > 0 ? ", " + tz : "") + "]";
    }
    if (this.id == TypeId.Invalid) return "invalid(\"" + this.format + "\")";
    return typeNames[this.id];
  }

  /**
   * Parses a type name ("int64", "timestamp[ms]", "timestamp[us, UTC]") or
   * an Arrow format string ("l"); null (and fail()-free) if unknown: the
   * caller reports the error.
   */
  static parse(s: string): DataType | null {
    s = s.trim();
    for (let id = <i32>TypeId.Bool; id <= <i32>TypeId.Date32; id++) {
      if (id != <i32>TypeId.Timestamp && typeNames[id] == s) return new DataType(typeFormats[id]);
    }
    if (s.startsWith("timestamp[")) {
      if (!s.endsWith("]")) return null;
      const body = s.substring(10, s.length - 1);
      const comma = body.indexOf(",");
      const unit = (comma < 0 ? body : body.substring(0, comma)).trim();
      const tz = comma < 0 ? "" : body.substring(comma + 1).trim();
      let u: TimeUnit;
      if (unit == "s") u = TimeUnit.Second;
      else if (unit == "ms") u = TimeUnit.Millisecond;
      else if (unit == "us") u = TimeUnit.Microsecond;
      else if (unit == "ns") u = TimeUnit.Nanosecond;
      else return null;
      return DataType.timestamp(u, tz);
    }
    const t = new DataType(s);
    return t.valid ? t : null;
  }
}

function idOf(f: string): TypeId {
  if (f.length == 1) {
    switch (f.charCodeAt(0)) {
      case 0x62: return TypeId.Bool; // b
      case 0x63: return TypeId.Int8; // c
      case 0x73: return TypeId.Int16; // s
      case 0x69: return TypeId.Int32; // i
      case 0x6c: return TypeId.Int64; // l
      case 0x43: return TypeId.Uint8; // C
      case 0x53: return TypeId.Uint16; // S
      case 0x49: return TypeId.Uint32; // I
      case 0x4c: return TypeId.Uint64; // L
      case 0x66: return TypeId.Float32; // f
      case 0x67: return TypeId.Float64; // g
      case 0x75: return TypeId.Utf8; // u
      case 0x7a: return TypeId.Binary; // z
    }
    return TypeId.Invalid;
  }
  if (f == "tdD") return TypeId.Date32;
  if (f.length >= 4 && f.charCodeAt(0) == 0x74 && f.charCodeAt(1) == 0x73 && f.charCodeAt(3) == 0x3a) {
    const u = f.charCodeAt(2);
    if (u == 0x73 || u == 0x6d || u == 0x75 || u == 0x6e) return TypeId.Timestamp;
  }
  return TypeId.Invalid;
}

/** The name of a type id ("int64"). */
export function typeIdName(id: TypeId): string {
  return typeNames[<i32>id];
}

/** A named column of a schema. */
export class Field {
  constructor(public name: string, public type: DataType, public nullable: bool = true) {}

  toString(): string {
    return this.name + ":" + this.type.toString() + (this.nullable ? "" : " not null");
  }
}

/** An ordered list of uniquely named columns. */
export class Schema {
  fields: Field[] = [];

  /** Appends a column and returns the schema, for chaining. */
  add(name: string, type: DataType, nullable: bool = true): Schema {
    this.fields.push(new Field(name, type, nullable));
    return this;
  }

  get length(): i32 { return this.fields.length; }

  field(j: i32): Field { return this.fields[j]; }

  /** The index of the column called name, or -1. */
  index(name: string): i32 {
    const fs = this.fields;
    for (let j = 0; j < fs.length; j++) if (fs[j].name == name) return j;
    return -1;
  }

  /** The column names, comma-separated. */
  names(): string {
    let s = "";
    for (let j = 0; j < this.fields.length; j++) {
      if (j > 0) s += ", ";
      s += this.fields[j].name;
    }
    return s;
  }

  /**
   * The index of column name if its type has the id of one of types (any
   * type if types is empty). Otherwise -1, with the reason in the returned
   * error text via lookupError.
   */
  lookupError(name: string, types: DataType[]): string | null {
    const j = this.index(name);
    if (j < 0) return "input has no column \"" + name + "\" (columns: " + this.names() + ")";
    if (types.length == 0) return null;
    const t = this.fields[j].type;
    let want = "";
    for (let k = 0; k < types.length; k++) {
      if (t.id == types[k].id && (t.id != TypeId.Timestamp || types[k].format.length == 4 || t.equals(types[k]))) return null;
      if (k > 0) want += " or ";
      want += types[k].id == TypeId.Timestamp && types[k].format.length == 4 ? "timestamp" : types[k].toString();
    }
    return "column \"" + name + "\" is " + t.toString() + ", want " + want;
  }

  /** Checks names are unique and non-empty and types valid; null if fine. */
  validate(): string | null {
    const fs = this.fields;
    for (let j = 0; j < fs.length; j++) {
      if (fs[j].name.length == 0) return "column " + j.toString() + " has no name";
      if (!fs[j].type.valid) return "column \"" + fs[j].name + "\" has unsupported type " + fs[j].type.toString();
      for (let k = 0; k < j; k++) {
        if (fs[k].name == fs[j].name) return "duplicate column \"" + fs[j].name + "\"";
      }
    }
    return null;
  }

  /** "name:type,...", the form of the file connector's schema param. */
  toString(): string {
    let s = "";
    for (let j = 0; j < this.fields.length; j++) {
      if (j > 0) s += ",";
      s += this.fields[j].toString();
    }
    return s;
  }

  /** A copy of the schema. */
  clone(): Schema {
    const s = new Schema();
    for (let j = 0; j < this.fields.length; j++) {
      const f = this.fields[j];
      s.add(f.name, f.type, f.nullable);
    }
    return s;
  }
}
